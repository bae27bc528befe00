"""Writes data/labels.csv, the training-set spine of this example, from data/ecom.csv.gz.

One row per user already seen, at three instants (1 March, 1 April, 1 May 2024, UTC). The label
`active_next_14d` is 1 when the user has any event in the 14 days after the instant: a churn target.
Run from this directory with any Python 3: `python3 make_labels.py`.
"""

import csv
import datetime as dt
import gzip

events = {}
with gzip.open("data/ecom.csv.gz", "rt") as f:
    for row in csv.DictReader(f):
        # The file's timestamps carry no zone; the project reads them as UTC, and so does this script.
        events.setdefault(row["user_id"], []).append(dt.datetime.fromisoformat(row["timestamp"]))

rows = []
for when in [dt.datetime(2024, 3, 1), dt.datetime(2024, 4, 1), dt.datetime(2024, 5, 1)]:
    horizon = when + dt.timedelta(days=14)
    for user, times in sorted(events.items()):
        if any(t <= when for t in times):
            label = int(any(when < t <= horizon for t in times))
            rows.append((user, when.strftime("%Y-%m-%dT%H:%M:%SZ"), label))

with open("data/labels.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["user_id", "event_timestamp", "active_next_14d"])
    writer.writerows(rows)
print(f"wrote {len(rows)} rows to data/labels.csv")
