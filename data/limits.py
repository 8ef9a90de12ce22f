"""The largest value a client may send in each text field of the API, declared once.

The request models use these as pydantic ``max_length`` (so they appear in the OpenAPI document and are
refused before any work is done); data/ops checks the same numbers for callers that bypass the models.
The size of a whole request body is capped separately (settings ``max_body_bytes``, ``max_batch_body_bytes``;
api/body_limit.py), since a model only sees a body after it has been read.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

# When the commune boundaries of 2025 took effect (the reorganisation of 1 July 2025, Vietnam time): the
# default earliest occurred_at (setting ``earliest_occurred_at``), since an incident is filed under the
# commune of 2025 containing its point.
BOUNDARIES_FROM = datetime(2025, 7, 1, tzinfo=timezone(timedelta(hours=7)))

# A vocabulary code (category, severity, source, status, hq_status): the longest code is well below this.
CODE_CHARS = 64
# A user name (assignee): sign-in names are short handles such as "officer1" or "chief-muongcha".
USERNAME_CHARS = 64
# A person's name as told to the officer (reporter_name).
PERSON_NAME_CHARS = 200
# Free text of an incident (description) and of a headquarters status change (note).
DESCRIPTION_CHARS = 4000
# A check-in's note.
NOTE_CHARS = 2000
# A client's id echoed back in a batch result when the item itself is refused (a UUID has 36 characters).
ECHOED_ID_CHARS = 64
