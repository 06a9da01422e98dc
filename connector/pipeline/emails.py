"""The e-mail route: addresses to creators through the e-mail ledger, single lookups or a batch.

A record identified by e-mail waits on its e-mail key (``store.models.get_email_key``). A fresh
answer in the e-mail ledger moves it at once onto its creator's ledger key, in the tier of its
source, and from there it takes the handle route (ledger, reservations, single or batch). A
missing answer is bought like a creator: reserved, recorded before the request leaves, stored
by the thread that received it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from connector.enrich.models import get_price
from connector.errors import FatalError, InvalidHandleError
from connector.handles import PLATFORMS, parse_handle
from connector.pipeline.batches import submit_batches
from connector.pipeline.context import PipelineServices
from connector.pipeline.delivery import get_fresh_emails, get_lease, mark_records, write_status
from connector.pipeline.events import EMAIL_LOOKUP
from connector.pipeline.holds import fail_held_records
from connector.pipeline.lease import LeaseKeeper
from connector.pipeline.report import CycleReport
from connector.pipeline.singles import enrich_singles
from connector.pipeline.stops import stop_work
from connector.sources.base import Status
from connector.store.models import EMAIL, EmailLookup, LedgerKey, WorkItem, is_email_key


def resolve_from_ledger(
    services: PipelineServices, work: Sequence[WorkItem], report: CycleReport
) -> list[WorkItem]:
    """``work`` with every e-mail item the e-mail ledger answers moved onto its creator.

    Items whose e-mail names no creator get ``no creator for this e-mail`` and leave the list.
    """
    emails = {w.key.handle_key for w in work if is_email_key(w.key)}
    if not emails:
        return list(work)
    fresh = get_fresh_emails(services, emails)
    answered = [w for w in work if is_email_key(w.key) and w.key.handle_key in fresh]
    rest = [w for w in work if not is_email_key(w.key) or w.key.handle_key not in fresh]
    return rest + apply_lookups(services, answered, fresh, report)


def get_creator_key(
    services: PipelineServices, source: str, lookup: EmailLookup
) -> LedgerKey | None:
    """The ledger key of the creator a found lookup names, in the tier of ``source``.

    Raises ``InvalidHandleError`` when the answer names nothing the connector can enrich.
    """
    if lookup.outcome != "found":
        return None
    handle = parse_handle(lookup.username, lookup.platform)
    return LedgerKey(handle.platform, handle.handle_key, services.get_mode(source, handle.platform))


def apply_lookups(
    services: PipelineServices,
    items: Sequence[WorkItem],
    lookups: dict[str, EmailLookup],
    report: CycleReport,
) -> list[WorkItem]:
    """Move items onto the creators their e-mails name; finish those no creator answers.

    Returns the moved items (their key is now the creator's, in the tier of their source).
    """
    store = services.store
    moves: dict[tuple[LedgerKey, str], list[int]] = defaultdict(list)
    unknown: list[WorkItem] = []
    unusable: dict[str, list[WorkItem]] = defaultdict(list)
    for item in items:
        lookup = lookups[item.key.handle_key]
        try:
            key = get_creator_key(services, item.source, lookup)
        except InvalidHandleError as exc:
            named = f"{lookup.platform or 'an unnamed platform'} {lookup.username or ''}".strip()
            unusable[
                f"influencers.club matched this e-mail to {named}, which cannot be enriched: "
                f"{exc.message}"
            ].append(item)
            continue
        if key is None:
            unknown.append(item)
            continue
        value = parse_handle(lookup.username, lookup.platform).value
        moves[(key, value)].append(item.id)
    if unknown:
        store.set_work_state([w.id for w in unknown], "done")
        write_status(services, unknown, Status.NO_CREATOR, "", route=EMAIL_LOOKUP)
    for message, failed in unusable.items():
        store.set_work_state([w.id for w in failed], "failed", error=message)
        write_status(services, failed, Status.ERROR, message, route=EMAIL_LOOKUP)
        report.errors += len(failed)
    moved: list[WorkItem] = []
    for (key, value), ids in moves.items():
        moved += store.set_work_key(ids, key, value)
    return moved


def quote_lookups(services: PipelineServices, items: Sequence[WorkItem]) -> tuple[float, float]:
    """(lookups, follow-up) credits for the e-mails of ``items`` not yet answered.

    The follow-up is an upper bound: each e-mail is priced as a hit enriched in the most
    expensive tier its sources use, though a lookup may miss (free) or find a creator the ledger
    already holds (free).
    """
    by_email: dict[str, float] = {}
    for item in items:
        tier = max(
            (services.get_mode(item.source, p) for p in PLATFORMS),
            key=get_price,
        )
        email = item.key.handle_key
        by_email[email] = max(by_email.get(email, 0.0), get_price(tier))
    return len(by_email) * get_price(EMAIL), sum(by_email.values())


def look_up_emails(
    services: PipelineServices,
    items: Sequence[WorkItem],
    report: CycleReport,
    owner: str,
    *,
    unsent: Sequence[WorkItem] = (),
) -> list[WorkItem] | None:
    """Buy the e-mail answers ``items`` wait for; return the items moved onto their creators.

    Fewer than ``batch_threshold`` unique e-mails are looked up one by one (concurrently) and
    their records move on at once; more go to one ``basic`` batch per 10,000, whose records
    move on when it is collected. After a ``FatalError`` (bad key, no credits) the e-mails
    nobody answered and the creators of ``unsent`` (this cycle's, not reserved yet) are held
    or failed (``stops.stop_work``) and ``None`` is returned.
    """
    store, settings = services.store, services.settings
    lease = get_lease(services)
    # Claimed, so the batch job's ``serve_ready`` does not move them too once answers land.
    mine = store.claim_work([w.id for w in items], owner, lease)
    items = [w for w in items if w.id in mine]
    owned = store.reserve({w.key for w in items}, owner=owner, lease=lease)
    held = fail_held_records(services, [w for w in items if w.key not in owned], report)
    report.waiting += sum(1 for w in items if w.key not in owned and w.key not in held)
    if not owned:
        return []
    keys = sorted(owned)
    report.routes["email"] = report.routes.get("email", 0) + len(keys)
    report.email_lookups += len(keys)
    pairs = [(key, key.handle_key) for key in keys]
    try:
        with LeaseKeeper(store, owned, owner, lease):
            mark_records(services, [w for w in items if w.key in owned], Status.ENRICHING)
            if len(keys) >= settings.pipeline.batch_threshold:
                submit_batches(
                    services, EMAIL, pairs, run_id=report.run_id, owner=owner, mode=EMAIL
                )
                return []
            enrich_singles(services, pairs, report, owner)
    except FatalError as exc:
        stop_work(services, exc, owned, owner, report, unreserved=unsent)
        return None
    answered = [w for w in items if w.key in owned]
    fresh = get_fresh_emails(services, {w.key.handle_key for w in answered})
    return apply_lookups(
        services, [w for w in answered if w.key.handle_key in fresh], fresh, report
    )
