"""svod cabinet: the web application where schools hand in and staff review (see docs/cabinet.md)."""
