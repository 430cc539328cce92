"""Known hardening bugs, by id. Tests that show one are marked
`xfail(strict=True, reason=BUGS[...])`: they turn into failures (XPASS) the
moment the bug is fixed, as a reminder to drop the marker.

Each entry: what goes wrong, a reproducer, and where the fix belongs. The
same list is in the hardening report of issue 8.
"""

BUGS = {
    "H1": "max_depth accepts up to 1000 but ~490 nested levels raise RecursionError (E0001): "
          "lark's recursive Transformer in parser.parse_module (and the recursive checker/targets)",
    "H2": "an integer or duration literal of more than 4300 digits raises ValueError (E0001) in "
          "parser._ToAst._number: int() hits sys.int_max_str_digits",
    "H3": "`entry` in integc.toml outside the project (`../x.integ`, an absolute path) or a main.integ "
          "symlinked out is read, then E0001 ValueError in loader.load_project (relative_to)",
    "H4": "an import through a symlink loop (RuntimeError) or with a name longer than NAME_MAX "
          "(OSError ENAMETOOLONG) is E0001 in loader._resolve_import",
    "H5": "an entry file that is a FIFO blocks forever (and /dev/zero reads without bound) in "
          "loader._read_source: no S_ISREG check, read_bytes() unbounded",
    "H6": "deeply nested arrays in integc.toml raise RecursionError (E0001) in config._read_toml",
    "H7": "diagnostic messages repeat user text without bound: an unknown 200,000-character "
          "name or a long invalid path gives a 200 KB message",
    "H8": "credentials are echoed by messages that repeat a string value (E0209 base_url "
          "`'ftp://admin:hunter2@...'`, webhook/expose/operation paths, cron, E0205 examples); "
          "and the text snippet of any other diagnostic on the same line (E0101, E0209...) shows the "
          "line unmasked: only E0502's own snippet is masked (a67ed67)",
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
    "H13": "Windows device names (con, aux, nul, com1, lpt1) as declaration names are not E0801; "
           "their output files cannot be checked out on Windows",
    "H14": "a foreign file or symlink in the output folder whose name equals a folder integc writes "
           "(`openapi`, `schemas`, ...) makes the build fail (exit 2) or nests the copy",
    "H15": "a declaration name longer than the file system allows (about 240 characters) passes "
           "`check` but `build` fails with exit 2 `File name too long` (and prints the 200 KB path); "
           "it should be E0801 in resolve._usable_as_file_name",
    "H16": "webhook paths and base_url accept control and bidi characters (webhook paths refuse only "
           "white space and {}?#, check.Checker._trigger); the k8s manifests then carry U+202E raw "
           "(the OpenAPI and JSON outputs escape it)",
    "H17": "an @example outside its field's @length/@range/@pattern is accepted and written as a schema "
           "`examples` value that fails its own schema",
    "H18": "a default outside its field's @length/@range/@pattern (`code: string @length(5, 10) = \"\"`) "
           "passes `check`; `build` then fails with E0001 from the OpenAPI target's self-check "
           "(found by fuzz/fuzz_compile.py); it should be E0205 in resolve",
    "H19": "`integc fmt FOLDER` follows a symbolic link inside the folder and rewrites the .integ file it "
           "points at, outside the folder (commands/fmt.py: resolve, then write)",
    "H20": "base_url / token_url validation: an unclosed IPv6 bracket (`https://[crm.example/api`) is E0001 "
           "(urlsplit ValueError in resolve._check_url, found by fuzz/fuzz_compile.py); a port out of range "
           "or not a number (`:99999`, `:abc`) and an empty host (`https://:80/api`) are accepted",
    "H21": "cron expressions with croniter extensions Kubernetes CronJobs do not accept (`0 2 L * *`, "
           "`0 2 * * 5#3`) pass check and build; `kubectl apply` refuses them later (check.Checker._trigger)",
    "H22": "`integc build` runs each generated mapping on the flow's example record in its own process, "
           "without a time or memory bound (targets/mapping/testing.check_example, the E0307 check): an "
           "@example against a backtracking @pattern (`^(a+)+$`) hangs the build, and nested "
           "`replace(text, \"a\", text)` from a 1 KB file allocates gigabytes",
    "H23": "an operation path with an unbalanced or doubled brace (`\"/products/{\"`, `\"/p/{{id}}\"`, "
           "`\"/p/id}\"`) passes check; build fails with E0001 in the OpenAPI target's self-check (found by "
           "fuzz/fuzz_compile.py); resolve should report E0209",
    "H24": "a type that requires itself (`type Loop { me: Loop  v: int @example(1) }`) passes check; "
           "build recurses forever building the example record (targets/mapping/testing._example_fields) "
           "and reports E0001 RecursionError",
    "H25": "an entity exposed twice (`expose P at \"/a\" { list }` and `expose P at \"/b\" { get }`) passes "
           "check; build fails with E0001 KeyError 'page' in targets/openapi.py (_expose)",
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
