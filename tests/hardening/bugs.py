"""Known hardening bugs, by id. Tests that show one are marked
`xfail(strict=True, reason=BUGS[...])`: they turn into failures (XPASS) the
moment the bug is fixed, as a reminder to drop the marker.

Each entry: what goes wrong, a reproducer, and where the fix belongs. The
same list is in the hardening report of issue 8.
"""

BUGS = {
    "H2": "an integer or duration literal of more than 4300 digits raises ValueError (E0001) in "
          "parser._ToAst._number: int() hits sys.int_max_str_digits",
    "H3": "`entry` in integc.toml outside the project (`../x.integ`, an absolute path) or a main.integ "
          "symlinked out is read, then E0001 ValueError in loader.load_project (relative_to)",
    "H4": "an import through a symlink loop (RuntimeError) or with a name longer than NAME_MAX "
          "(OSError ENAMETOOLONG) is E0001 in loader._resolve_import",
    "H5": "an entry file that is a FIFO blocks forever (and /dev/zero reads without bound) in "
          "loader._read_source: no S_ISREG check, read_bytes() unbounded",
    "H6": "deeply nested arrays in integc.toml raise RecursionError (E0001) in config._read_toml",
    "H9": "--out (or `out` in integc.toml) naming an existing folder that is not an integc output "
          "(/etc, /usr, ~/.ssh, .git, a parent of nothing) is accepted: the folder is replaced by a copy "
          "of itself plus the outputs",
    "H10": "every build leaves the output folder with mode 0700 (tempfile.mkdtemp in writer.write_build)",
    "H11": "the Lark grammar cache is a pickle written to and loaded from the shared temp folder "
           "(parser._lark: cache=True): a write outside the output folder, and code execution for "
           "whoever can plant that predictable file on a shared machine",
    "H12": "about 50 microseconds of CPU per token: a dense 1 MB file takes ~20-45 s and ~400 MB, "
           "9 MB several minutes; the 10 MiB default max_file_bytes and no project-wide byte limit "
           "let one pull request occupy a CI runner for a long time",
    "H14": "a foreign file or symlink in the output folder whose name equals a folder integc writes "
           "(`openapi`, `schemas`, ...) makes the build fail (exit 2) or nests the copy",
    "H16": "ir.json (--emit-ir) writes bidi and invisible characters of doc comments and strings raw "
           "(build.ir_json_bytes uses ensure_ascii=False); webhook paths, expose/operation paths, base_url "
           "and token_url with control, format or space characters are E0209",
    "H19": "`integc fmt FOLDER` follows a symbolic link inside the folder and rewrites the .integ file it "
           "points at, outside the folder (commands/fmt.py: resolve, then write)",
    "H26": "an integc.toml that is a symbolic link to a file outside the project is read, and the text "
           "diagnostics print its lines (a pull request adding `integc.toml -> ~/.netrc` gets the first "
           "line into the CI log): config.load_config must confine integc.toml like an import",
    "H27": "a committed symbolic link `build -> /elsewhere` in the project makes a plain `integc build` "
           "replace /elsewhere (the default output folder is resolved through the link, config.load_config); "
           "a pull request alone can make CI write outside the project",
    "H28": "a committed symbolic link `.build.integc-cache -> /elsewhere` makes the build write its "
           "cache (README.txt, record, modules/...) into /elsewhere, overwriting files of those names "
           "(compiler/cache.py follows the link)",
    "H29": "\"did you mean\" is computed for every problem against every candidate (difflib): 2,000 "
           "imports of missing files beside 2,000 .integ files take over two minutes (loader._missing_help "
           "lists the folder again for each), 3,000 unknown type names among 3,000 types take 25 s",
    "H30": "the credential scan is quadratic on long lines: the URL-password pattern "
           "(`\\b[a-zA-Z][a-zA-Z0-9+.-]*://...`, secrets_scan.py) rescans from every word boundary, so one "
           "98 KB line of `a.a.a.` takes 10 s and a 10 MB file of them about 15 minutes",
}
