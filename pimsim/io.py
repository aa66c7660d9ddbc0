"""Writing outputs: one policy for every command's ``--out``.

- ``check_out_dir`` / ``check_out_file`` refuse, before any work, an output that cannot be
  written: a folder expected where a file exists (or the reverse), a parent that is a file, a
  location that is not writable. Nothing is created.
- ``write_atomic`` / ``write_bytes_atomic`` / ``write_text_atomic`` write a file beside its
  destination and rename it over it: a reader never sees a half-written file, and a failure
  (a full disk: ``ENOSPC``) leaves no temporary file. ``publish_dir`` does the same for a
  folder of files.
- Files and folders honour the user's umask (``0o666 & ~umask``, ``0o777 & ~umask``), which
  ``tempfile`` would otherwise narrow to 0600 / 0700.
- ``output_errors`` turns an ``OSError`` about a path inside ``--out`` into the one-line
  ``PimsimError`` ``--out: PATH: reason``.
- ``child`` joins a name read from a file to its folder, refusing a name with a path in it.
- ``writing_to`` is the policy each command's ``run`` applies: the check, then the work inside
  ``output_errors``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pimsim.errors import PimsimError


def umask() -> int:
    """The process's umask (read from /proc where it can be, else set and restored)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode() -> int:
    return 0o666 & ~umask()


def dir_mode() -> int:
    return 0o777 & ~umask()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return sha256_bytes(Path(path).read_bytes())


def child(folder: str | Path, name: str, suffix: str = "") -> Path:
    """``folder / (name + suffix)``, refused unless ``name`` is a plain file name (no folder
    part, not ``.`` or ``..``): names read from files never write outside ``folder``."""
    if not name or name in (".", "..") or Path(name).name != name or "\\" in name:
        raise PimsimError(f"name {name!r}: not a plain file name (it would be written outside "
                          "the output folder)")
    return Path(folder) / f"{name}{suffix}"


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_creatable(path: Path, flag: str) -> None:
    """``path`` does not exist: its nearest existing ancestor must be a writable folder."""
    parent = _nearest_existing(path.absolute().parent)
    if not parent.is_dir():
        raise PimsimError(f"{flag}: {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PimsimError(f"{flag}: {path}: cannot create it: {parent} is not writable")


def check_out_dir(path: str | Path, flag: str = "--out") -> Path:
    """``path`` can be (or already is) a folder of outputs; creates nothing."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise PimsimError(f"{flag}: {path}: exists and is not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise PimsimError(f"{flag}: {path}: folder is not writable")
    else:
        _check_creatable(path, flag)
    return path


def check_out_file(path: str | Path, flag: str = "--out") -> Path:
    """``path`` can be written as a file (it is not a folder); creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise PimsimError(f"{flag}: {path}: is a folder; give a file name")
    if path.exists():
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise PimsimError(f"{flag}: {path}: its folder is not writable")
    else:
        _check_creatable(path, flag)
    return path


@contextmanager
def output_errors(out: str | Path | None, flag: str = "--out") -> Iterator[None]:
    """Re-raise an ``OSError`` about ``out`` or a path inside it as ``PimsimError`` (one line,
    ``--out: PATH: reason``); other errors pass through."""
    try:
        yield
    except OSError as exc:
        if out is None or exc.filename is None or not _inside(Path(exc.filename), Path(out)):
            raise
        raise PimsimError(f"{flag}: {exc.filename}: {exc.strerror or exc}") from None


@contextmanager
def writing_to(out: str | Path | None, flag: str = "--out", folder: bool = True
               ) -> Iterator[None]:
    """The output policy of every command: refuse an unwritable ``out`` (a folder, or a file
    when ``folder`` is false; ``None``: no output) before any work, then report an
    ``OSError`` while writing into it as one line."""
    if out is not None:
        (check_out_dir if folder else check_out_file)(out, flag)
    with output_errors(out, flag):
        yield


def _inside(path: Path, out: Path) -> bool:
    """``path`` is ``out``, inside it, a folder on the way to it, or a temporary file
    beside it (``.NAME.*``)."""
    path, out = path.absolute(), out.absolute()
    return (path == out or out in path.parents or path in out.parents
            or (path.parent == out.parent and path.name.startswith(f".{out.name}.")))


def _os_error_with_path(exc: OSError, path: Path, tmp: Path) -> OSError:
    """``exc``, naming ``path`` (or the file inside it) where it names no file (a write that
    ran out of space) or the temporary ``tmp`` (or a file inside it)."""
    name = Path(exc.filename) if isinstance(exc.filename, str) else None
    if name is not None and name != tmp and tmp not in name.parents:
        return exc
    where = path if name is None or name == tmp else path / name.relative_to(tmp)
    return type(exc)(exc.errno, exc.strerror or str(exc), str(where))


def make_dirs(path: str | Path) -> Path:
    """``mkdir -p`` (modes from the umask)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``
    (mode ``0o666 & ~umask``). On any failure the temporary file is removed; an ``OSError``
    that names no file is re-raised naming ``path``."""
    path = Path(path)
    make_dirs(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror or str(exc), str(path)) from None
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _os_error_with_path(exc, path, Path(tmp)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    write_atomic(path, lambda p: p.write_bytes(data))


def write_text_atomic(path: str | Path, text: str) -> None:
    write_atomic(path, lambda p: p.write_text(text))


def publish_dir(out: str | Path, build: Callable[[Path], None]) -> Path:
    """Call ``build(tmp)`` on a temporary folder beside ``out``, then move what it wrote into
    ``out`` (renaming the folder itself when ``out`` does not exist yet): a failure while
    building leaves neither a partial file nor a new folder."""
    out = Path(out)
    make_dirs(out.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror or str(exc), str(out)) from None
    try:
        try:
            build(tmp)
        except OSError as exc:
            raise _os_error_with_path(exc, out, tmp) from None
        os.chmod(tmp, dir_mode())  # mkdtemp makes it 0700; what build wrote follows the umask
        if not out.exists():
            tmp.rename(out)
            return out
        for entry in sorted(tmp.iterdir()):
            entry.replace(out / entry.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
