"""The build cache: what `integc build` keeps to make the next build of the same project faster.

Where: a folder beside the output folder, named after it -- `.build.integc-cache/`
next to `build/` (`.<out>.integc-cache/` in general). It is only a cache:
deleting it (or the output folder) just makes the next build a cold one. It
is never written inside the output folder, so the atomic output swap and the
files a user keeps there are unaffected, and a build still writes nothing but
its output folder and the `.<out>.integc-*` names beside it.

What it holds:
- `record`: the previous successful build -- the compiler that made it, the
  command's options, every input file's SHA-256 and how every import
  resolved, and every output file's size, inode, mtime and SHA-256. When all
  of that still holds, `integc build` reports the recorded diagnostics and
  writes nothing ("nothing changed").
- in the record, for each unit of a target's output (`integc.targets.Unit`),
  keyed by the compiler, the target, its options, the unit and its IR
  inputs: the files it wrote (path, SHA-256, size) and what it reported. When a unit's
  inputs have not changed and its files in the output folder are still the
  ones the last build wrote (size, inode, mtime, ctime and SHA-256 as that
  build's record has them), the build hard-links them into the new output
  instead of emitting them again.
- `modules/`: each parsed source file (its AST and its parse diagnostics),
  keyed by the compiler, the file's path as shown in diagnostics, the
  nesting limit and the SHA-256 of its text; when one file changes, the
  others are not parsed again.
- `resolved/`: for each file that declares systems, under the same key, its
  outline (the tree with the systems' bodies left out), its parse
  diagnostics, and what resolving its systems gave (`integc.resolve.Resolved`:
  their IR and diagnostics, and a digest of the environment they were resolved
  in). A later build loads the outline instead of the tree and takes the
  systems as they are while the environment is the same; else it loads the
  tree from `modules/` (or parses the file again) and resolves them.

Trust: every entry is signed (HMAC-SHA-256) with a random key kept in the
user's cache folder (`$XDG_CACHE_HOME/integc/cache-key`, else
`~/.cache/integc/cache-key`, mode 0600), so a cache folder that arrived with
a repository, or was edited, is ignored rather than believed; entries
unpickle only integc's own AST and IR classes. Without a usable key there is
no cache (builds are cold, and correct). The compiler's fingerprint (its version, the
size and modification time of each of its files, the Python version) is part
of every key, so a changed compiler never reuses an entry.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import json
import operator
import os
import pickle
import secrets
import stat
import sys
import tempfile
from functools import lru_cache
from typing import Callable
from pathlib import Path

import orjson

FORMAT = 1
_KEY_NAME = "cache-key"
_SIGNATURE = 32
RECORD = "record"  # the last successful build (BuildCache.load_record), in the cache folder
# Fewer newly parsed modules than this are stored at the end of the build rather than by a fork.
STORE_AHEAD_MIN_MODULES = 16


def cache_folder(out: Path) -> Path:
    """The cache folder of an output folder: `.<name>.integc-cache` beside it."""
    return out.parent / f".{out.name}.integc-cache"


@lru_cache(maxsize=1)
def compiler_fingerprint() -> str:
    """Changes whenever any file of the installed compiler (or Python) changes."""
    import importlib.util

    import integc

    # The interpreter, its environment and the libraries installed in it (a folder's mtime changes
    # when a distribution is added, removed or upgraded there), then every file of integc itself.
    digest = hashlib.sha256(f"{FORMAT}\0{integc.__version__}\0{sys.version}\0{sys.prefix}".encode())
    for folder in sys.path:
        if not folder.rstrip("/").endswith(("site-packages", "dist-packages")):
            continue
        try:
            digest.update(f"{folder}\0{os.stat(folder or '.').st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{folder}\0-\n".encode())
    for package in ("integc", "integc.targets", "integc.grammar", "integc.specs"):
        spec = importlib.util.find_spec(package)  # finds, without importing, where each part lives
        for folder in (spec.submodule_search_locations or []) if spec else []:
            for root, dirs, files in os.walk(folder):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(files):
                    if name.endswith((".pyc", ".pyo")):
                        continue
                    path = os.path.join(root, name)
                    try:
                        stat = os.stat(path)
                    except OSError:
                        continue
                    digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def user_cache_dir() -> Path | None:
    """This user's integc folder (`$XDG_CACHE_HOME/integc`, else `~/.cache/integc`), mode 0700;
    None when there is none to be had, or it is not a private folder of this user's."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "integc"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = os.lstat(folder)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077:
            os.chmod(folder, 0o700)
            info = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return folder


@lru_cache(maxsize=2)
def _signing_key(create: bool = True) -> bytes | None:
    """This user's random cache key, created on first use when `create`; None when there is none
    (a reader without a key has no entry it could trust anyway) or it cannot be kept."""
    folder = user_cache_dir()
    if folder is None:
        return None
    path = folder / _KEY_NAME
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except OSError:
        pass
    if not create:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{_KEY_NAME}-")
        with os.fdopen(handle, "wb") as stream:
            stream.write(key)
        try:
            os.link(temporary, path)  # first writer wins; everyone then reads the same key
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
        key = path.read_bytes()
        return key if len(key) == 32 else None
    except OSError:
        return None


# ---------------------------------------------------------------- pickling the AST

def _dataclasses_of(module) -> list[type]:
    return [c for c in vars(module).values()
            if isinstance(c, type) and dataclasses.is_dataclass(c) and c.__module__ == module.__name__]


def _ast_classes() -> list[type]:
    from integc import diagnostics, syntax

    return [diagnostics.Span, diagnostics.Diagnostic, diagnostics.Note] + _dataclasses_of(syntax)


def _by_fields(classes: list[type]) -> dict:
    """A pickler dispatch table: each of `classes` as (class, field values)."""
    table = {}
    for cls in classes:
        names = [f.name for f in dataclasses.fields(cls)]
        get = operator.attrgetter(*names)
        if len(names) == 1:
            table[cls] = lambda obj, cls=cls, get=get: (cls, (get(obj),))
        else:
            table[cls] = lambda obj, cls=cls, get=get: (cls, get(obj))
    return table


@lru_cache(maxsize=1)
def ast_dispatch_table() -> dict:
    """Pickle each AST node as (class, field values): unpickling calls the constructor, which is
    about three times faster than the generic state-setting path for frozen slotted dataclasses."""
    return _by_fields(_ast_classes())


@lru_cache(maxsize=1)
def _allowed_classes() -> dict[tuple[str, str], type]:
    return {(cls.__module__, cls.__qualname__): cls for cls in _ast_classes()}


@lru_cache(maxsize=1)
def resolved_dispatch_table() -> dict:
    """Pickle resolved files (integc.resolve.Resolved and the outline of their module) like trees."""
    from integc import ir, resolve

    return _by_fields(_ast_classes() + _dataclasses_of(ir) + [resolve.Resolved])


@lru_cache(maxsize=1)
def _resolved_classes() -> dict[tuple[str, str], type]:
    return {(cls.__module__, cls.__qualname__): cls for cls in resolved_dispatch_table()}


class _Unpickler(pickle.Unpickler):
    def __init__(self, stream, allowed: dict[tuple[str, str], type]):
        super().__init__(stream)
        self._allowed = allowed

    def find_class(self, module: str, name: str):
        cls = self._allowed.get((module, name))
        if cls is None:
            raise pickle.UnpicklingError(f"{module}.{name} is not a class the cache holds")
        return cls


def _dumps(value, table: dict | None = None) -> bytes:
    stream = io.BytesIO()
    pickler = pickle.Pickler(stream, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = table or ast_dispatch_table()
    pickler.dump(value)
    return stream.getvalue()


def _loads(data: bytes, allowed: dict[tuple[str, str], type] | None = None):
    return _Unpickler(io.BytesIO(data), allowed or _allowed_classes()).load()


# ---------------------------------------------------------------- output files of the last build

def output_stamp(status: os.stat_result) -> tuple[int, int, int, int]:
    """What shows that an output file is still as a build left it, as the record keeps it: size,
    inode, mtime and ctime (a write changes the ctime even where it puts the mtime back)."""
    return status.st_size, status.st_ino, status.st_mtime_ns, status.st_ctime_ns


def intact_output(previous: dict[str, tuple], out: str, path: str, digest: str, size: int) -> os.stat_result | None:
    """The status of the last build's file `path` in the folder `out` when it holds `digest` (`size`
    bytes) and is still as that build left it (`previous`: its record's outputs, path -> size,
    inode, mtime, ctime, SHA-256); else None."""
    known = previous.get(path)
    if known is None or known[4] != digest or known[0] != size:
        return None
    try:
        status = os.stat(f"{out}/{path}", follow_symlinks=False)
    except OSError:
        return None
    return status if output_stamp(status) == tuple(known[:4]) else None


# ---------------------------------------------------------------- digests of IR values

def _digested_values(resolved) -> tuple:
    """The values of a resolved file (integc.resolve.Resolved) that units take as inputs: its
    systems and enums. Their digests are stored with it, computed from the very values stored,
    so a build that loads them knows their digests without pickling them again."""
    return (*resolved.systems, *(enum for enum, _ in resolved.enums))


@lru_cache(maxsize=1)
def _ir_dispatch_table() -> dict:
    """Pickle IR values (and spans) as (class, field values): a faithful, fast serialisation to digest."""
    from integc import diagnostics, ir

    return _by_fields([diagnostics.Span] + _dataclasses_of(ir))


def _digest_values(values: tuple, digest, memo: DigestMemo) -> None:
    """Feed each value's SHA-256 (its pickle, IR classes by their fields) into `digest`: equal values
    give equal bytes, unequal values unequal bytes."""
    for value in values:
        if type(value) is tuple:
            digest.update(b"(")
            _digest_values(value, digest, memo)
            digest.update(b")")
            continue
        digest.update(_value_digest(value, memo))


def _value_digest(value, memo: DigestMemo) -> bytes:
    """The SHA-256 of one value's pickle (IR classes by their fields), from `memo` when it has it."""
    known = memo.get(value)
    if known is None:
        stream = io.BytesIO()
        pickler = pickle.Pickler(stream, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = _ir_dispatch_table()
        pickler.fast = True  # no memo: the bytes depend on the values only, not on which are shared
        pickler.dump(value)
        known = memo.put(value, hashlib.sha256(stream.getvalue()).digest())
    return known


class DigestMemo:
    """Each value's digest by identity, for one build (units share systems and types). The values
    are held, so that no other value takes their identity while an entry lives; `earlier` is the
    memo of the previous build of this process (a Session), whose entries are taken over when
    the same value (the very object, such as a system reused from memory) is digested again."""

    def __init__(self, earlier: DigestMemo | None = None):
        self.entries: dict[int, tuple[object, bytes]] = {}
        self._earlier = earlier.entries if earlier is not None else {}

    def get(self, value) -> bytes | None:
        entry = self.entries.get(id(value)) or self._earlier.get(id(value))
        if entry is None or entry[0] is not value:
            return None
        self.entries[id(value)] = entry
        return entry[1]

    def put(self, value, digest: bytes) -> bytes:
        self.entries[id(value)] = (value, digest)
        return digest


# ---------------------------------------------------------------- a process that builds again and again

class Session:
    """What a process that builds again and again (`integc build --watch`) keeps between builds:
    the resolved files it loaded or made (by module key, as `load_resolved` returns them: no
    file to read and nothing to unpickle next time) and the last build's unit digests (so the
    systems it reuses from here are not digested again). Both hold only what the last build
    used."""

    def __init__(self):
        self.resolved: dict[str, tuple] = {}
        self.digests: DigestMemo | None = None


_SESSION: list[Session] = []  # at most one: the session of this process, when it keeps one


def start_session() -> Session:
    """Keep what builds load and make in memory for the next build in this process."""
    _SESSION[:] = [Session()]
    return _SESSION[0]


def end_session() -> None:
    _SESSION.clear()


def session() -> Session | None:
    return _SESSION[0] if _SESSION else None


# ---------------------------------------------------------------- the cache

class BuildCache:
    """One output folder's cache. Reads never raise; writes happen only in `commit`."""

    def __init__(self, folder: Path, key: bytes, writable: bool):
        self.folder = folder
        self._key = key
        self._writable = writable
        self._new_modules: dict[str, tuple] = {}
        self._used_modules: set[str] = set()
        self._new_resolved: dict[str, tuple] = {}
        self._used_resolved: set[str] = set()
        self._units: dict[str, dict] = {}
        self._record: dict | None = None
        self._record_read = False  # `load_record` reads it once: a build asks for it several times
        self._storing: Callable[[], dict[str, bool]] | None = None  # see start_storing
        # The digests of this build's IR values (unit keys), starting from those of the systems and
        # enums of the resolved files it loaded (stored with them) and of the session's last build.
        kept = session()
        self.digests = DigestMemo(kept.digests if kept is not None else None)

    @property
    def writable(self) -> bool:
        return self._writable

    @classmethod
    def open(cls, out: Path, writable: bool = True) -> BuildCache | None:
        """The cache of the output folder `out`; read only unless `writable` (a reader does not
        make this user's signing key either: without one there is no entry it could trust)."""
        key = _signing_key(create=writable)
        if key is None:
            return None
        return cls(cache_folder(out), key, writable)

    # -- signed files

    def _safe_folder(self, relative: str, create: bool) -> Path | None:
        """The folder holding `relative`, when it and the cache folder are real folders (not symbolic
        links, which a repository could plant to send the cache's writes elsewhere); None otherwise."""
        folders = [self.folder] + ([self.folder / relative.rsplit("/", 1)[0]] if "/" in relative else [])
        for folder in folders:
            if create:
                try:
                    folder.mkdir(exist_ok=True)
                except OSError:
                    return None
            try:
                if not stat.S_ISDIR(os.lstat(folder).st_mode):
                    return None
            except OSError:
                return None
        return folders[-1]

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def _read(self, relative: str) -> bytes | None:
        if self._safe_folder(relative, create=False) is None:
            return None
        try:
            descriptor = os.open(self.folder / relative, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(descriptor, "rb") as stream:
                data = stream.read()
        except OSError:
            return None
        signature, payload = data[:_SIGNATURE], data[_SIGNATURE:]
        if len(signature) != _SIGNATURE or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        return payload

    def _write(self, relative: str, payload: bytes, signed: bool = True) -> None:
        """Write atomically (a new file renamed over the old name: a symbolic link there is replaced,
        not followed)."""
        folder = self._safe_folder(relative, create=True)
        if folder is None:
            raise OSError(f"{self.folder} is not a folder of its own")
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write((self._sign(payload) + payload) if signed else payload)
            os.replace(temporary, self.folder / relative)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise

    # -- parsed modules

    @staticmethod
    def module_key(shown: str, text_digest: str, max_depth: int) -> str:
        return hashlib.sha256(f"{compiler_fingerprint()}\0{shown}\0{max_depth}\0{text_digest}".encode()).hexdigest()

    def load_module(self, key: str):
        """(module, its parse diagnostics) cached under `key`, or None."""
        payload = self._read(f"modules/{key}")
        if payload is None:
            return None
        try:
            module, diagnostics = _loads(payload)
        except Exception:  # noqa: BLE001 -- a damaged entry is a miss
            return None
        self._used_modules.add(key)
        return module, diagnostics

    def has_module(self, key: str) -> bool:
        """Whether a module is cached under `key` (`load_module` still checks it: a damaged entry is a miss)."""
        return os.path.isfile(self.folder / "modules" / key)

    def store_new_modules(self) -> dict[str, bool]:
        """Write the modules parsed in this build now: {key: False when too deep to pickle, True
        when written}; a module that could not be written is left out. A forked worker does it
        while the build resolves (`start_storing`, then `adopt_stored`). Entries are named by
        what they hold, so writing them before the build is done is as safe as at its end."""
        stored: dict[str, bool] = {}
        if not self._writable:
            return stored
        for key, value in self._new_modules.items():
            try:
                payload = _dumps(value)
            except (RecursionError, pickle.PicklingError):
                stored[key] = False
                continue
            try:
                self._write(f"modules/{key}", payload)
            except OSError:
                continue
            stored[key] = True
        return stored

    def start_storing(self) -> None:
        """Store the modules parsed so far in a forked worker while the build goes on (the front
        end's later stages run on one core); `commit` takes its answer. A few modules are
        quicker to store at the end than a fork."""
        if self._writable and len(self._new_modules) >= STORE_AHEAD_MIN_MODULES and self._storing is None:
            from integc.workers import start_side_job

            self._storing = start_side_job(self.store_new_modules)

    def adopt_stored(self, stored: dict[str, bool]) -> None:
        """Take note of what `store_new_modules` did (in another process): `commit` skips it."""
        for key, written in stored.items():
            if key in self._new_modules:
                del self._new_modules[key]
                if not written:  # nesting deeper than pickle goes: not cached
                    self._used_modules.discard(key)

    def remember_module(self, key: str, module, diagnostics: list) -> None:
        """Keep a freshly parsed module, to be written by `commit`."""
        self._used_modules.add(key)
        if self._writable:
            self._new_modules[key] = (module, diagnostics)

    # -- resolved files (integc.loader.ResolutionReuse)

    def load_resolved(self, key: str):
        """(outline of the module, its parse diagnostics, integc.resolve.Resolved) cached under the
        module's `key`, or None. Its tree stays cached: the resolver may need it after all."""
        kept = session()
        entry = kept.resolved.get(key) if kept is not None else None
        if entry is None:
            payload = self._read(f"resolved/{key}")
            if payload is None:
                return None
            try:
                module, diagnostics, resolved, digests = _loads(payload, _resolved_classes())
                entry = (module, diagnostics, resolved)
                values = _digested_values(resolved)
            except Exception:  # noqa: BLE001 -- a damaged entry is a miss
                return None
            if type(digests) is tuple and len(digests) == len(values):
                for value, digest in zip(values, digests):
                    if type(digest) is bytes:
                        self.digests.put(value, digest)
            if kept is not None:
                kept.resolved[key] = entry
        self._used_resolved.add(key)
        self._used_modules.add(key)
        return entry

    def remember_resolved(self, key: str, entry: tuple) -> None:
        """Keep what resolving a module gave (as `load_resolved` returns it), to be written by `commit`."""
        self._used_resolved.add(key)
        kept = session()
        if kept is not None:
            kept.resolved[key] = entry
        if self._writable:
            self._new_resolved[key] = entry

    def resolved_to_store(self) -> int:
        return len(self._new_resolved) if self._writable else 0

    def store_new_resolved(self) -> dict[str, bool]:
        """Write the resolved files kept so far: {key: whether it was written}. A forked worker of
        the build does it when there are many (`adopt_resolved` then takes its answer)."""
        stored: dict[str, bool] = {}
        for key, entry in self._new_resolved.items():
            try:
                digests = tuple(_value_digest(value, self.digests) for value in _digested_values(entry[2]))
                self._write(f"resolved/{key}", _dumps((*entry, digests), resolved_dispatch_table()))
                stored[key] = True
            except (OSError, RecursionError, pickle.PicklingError):
                stored[key] = False
        return stored

    def adopt_resolved(self, stored: dict[str, bool]) -> None:
        """Take note of what `store_new_resolved` did (perhaps in another process)."""
        for key, written in stored.items():
            self._new_resolved.pop(key, None)
            if not written:
                self._used_resolved.discard(key)

    # -- targets' units (integc.targets.Unit): which files each wrote, and what it reported

    @staticmethod
    def unit_key(target: str, options: dict, unit_key: str, inputs: tuple, memo: DigestMemo) -> str:
        """The key of a unit: the compiler, target, options, unit, and a digest of every input value."""
        digest = hashlib.sha256(f"{compiler_fingerprint()}\0{target}\0{json.dumps(options, sort_keys=True)}"
                                f"\0{unit_key}\0".encode())
        _digest_values(inputs, digest, memo)
        return digest.hexdigest()

    def load_unit(self, key: str) -> dict | None:
        """{"outputs": [[path, sha256, size], ...], "diagnostics": [...]}: what the unit with this key
        wrote and reported in the last successful build (its record), or None."""
        record = self.load_record()
        units = record.get("units") if record is not None else None
        entry = units.get(key) if isinstance(units, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("outputs"), list):
            return None
        return entry

    def remember_unit(self, key: str, entry: dict) -> None:
        """Keep a unit of this build (emitted or reused) in the record `commit` writes."""
        self._units[key] = entry

    # -- the record of the last successful build

    def load_record(self) -> dict | None:
        """The last build's record, or None; read once (nothing writes it before `commit`). Read it,
        never change it."""
        if not self._record_read:
            self._record, self._record_read = self._read_record(), True
        return self._record

    def _read_record(self) -> dict | None:
        payload = self._read(RECORD)
        if payload is None:
            return None
        try:
            record = orjson.loads(payload)
        except ValueError:  # orjson.JSONDecodeError too
            return None
        return record if isinstance(record, dict) and record.get("format") == FORMAT else None

    def commit(self, record: dict | None = None, prune: bool = True) -> None:
        """Write the new modules (and the record), drop entries this build did not use.

        A cache that cannot be written is left as it is: caching is never a reason to fail a build.
        """
        if not self._writable:
            return
        if self._storing is not None:
            self.adopt_stored(self._storing())
            self._storing = None
        self.adopt_stored(self.store_new_modules())
        self._new_modules.clear()
        self.adopt_resolved(self.store_new_resolved())
        if prune:
            self._prune("modules", self._used_modules)
            self._prune("resolved", self._used_resolved)
            kept = session()
            if kept is not None:
                kept.resolved = {key: kept.resolved[key] for key in self._used_resolved if key in kept.resolved}
        try:
            if record is not None:
                self._record_read = False
                self._write(RECORD, _record_bytes({**record, "units": self._units, "format": FORMAT}))
            if not os.path.lexists(self.folder / "README.txt"):
                self._write("README.txt", _README.encode("utf-8"), signed=False)
        except OSError:
            pass

    def _prune(self, kind: str, used: set[str]) -> None:
        folder = self._safe_folder(f"{kind}/x", create=False)
        if folder is None:
            return
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for name in names:
            if name not in used:
                try:
                    os.unlink(folder / name)
                except OSError:
                    pass


def _record_bytes(record: dict) -> bytes:
    """The record as JSON (orjson: ~10x faster than json at N=200's 4,600 entries)."""
    try:
        return orjson.dumps(record)
    except TypeError:  # a lone surrogate in a path, which json escapes (and orjson then refuses to read)
        return json.dumps(record).encode("utf-8")


_README = """\
integc build cache (see `integc.cache`): parsed and resolved sources and the
record of the last build of the output folder next to this one. Safe to
delete at any time; the next build is then a cold one.
"""
