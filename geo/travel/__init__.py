"""Travel over the road graph (``road_edge``, pgRouting): point to point, village access, isochrones,
reorganisation savings, incident response times.

Every function takes an open psycopg connection and plain values or frames (this is the ``geo`` floor: it
never imports ``data.db`` or ``layers``). Coordinates in and out are EPSG:4326 lon/lat; times are seconds
(columns ``*_s``) or minutes (``*_min``), distances metres (``*_m``) or kilometres (``*_km``). Results carry
``attrs["roads_generated"]`` and ``attrs["note"]``: the demo's roads and speeds are generated.
"""
