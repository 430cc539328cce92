"""Known hardening bugs, by id. Tests that show one are marked
`xfail(strict=True, reason=BUGS[...])`: they turn into failures (XPASS) the
moment the bug is fixed, as a reminder to drop the marker.

Each entry: what goes wrong, a reproducer, and where the fix belongs. The
same list is in the hardening report of issue 8.
"""

BUGS: dict[str, str] = {}
