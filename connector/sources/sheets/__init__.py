"""The Google Sheets source (gspread): claim rows with a token, verify, write results back."""
