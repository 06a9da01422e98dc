"""The one place the hops are wired: source → handles → ledger → route → enrich → map → write back.

``cycle.run_cycle`` fetches a source's pending records (``records``) and stores them as work;
``work.process_work`` serves creators from the ledger or reserves them and routes them to
``singles`` (concurrent calls) or ``batches`` (async CSV jobs); ``delivery`` maps results and
writes them back through the durable outbox; ``recovery`` resumes what a stopped worker left;
``plan`` prices a dry run. Every function takes the composition root as ``PipelineServices``.
"""
