"""Station coverage and headquarters planning over the road graph: who lives within reach of a police
station (``coverage``), the coverage curve as a picture (``curve``), site selection (``solvers``).

This is the ``geo`` floor: functions take an open psycopg connection and plain values or frames and never
import ``data.db``, ``data.ops``, ``layers``, ``web`` or ``api``. Results say whether the roads are generated.
"""
