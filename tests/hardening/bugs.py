"""Known hardening bugs, by id. Tests that show one are marked
`xfail(strict=True, reason=BUGS[...])`: they turn into failures (XPASS) the
moment the bug is fixed, as a reminder to drop the marker.

Each entry: what goes wrong, a reproducer, and where the fix belongs. The
same list is in the hardening report of issue 8.
"""

BUGS = {
    "H12": "about 50 microseconds of CPU per token: a dense 1 MB file takes ~20-45 s and ~400 MB, "
           "9 MB several minutes; the 10 MiB default max_file_bytes and no project-wide byte limit "
           "let one pull request occupy a CI runner for a long time",
    "H28": "a committed symbolic link `.build.integc-cache -> /elsewhere` makes the build write its "
           "cache (README.txt, record, modules/...) into /elsewhere, overwriting files of those names "
           "(compiler/cache.py follows the link)",
}
