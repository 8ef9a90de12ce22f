"""The country at national scale for benchmarks: the 34 provinces and 3,321 communes of July 2025 with their
official names and codes, synthetic shapes, villages, stations and incidents (never the dev/demo database)."""
