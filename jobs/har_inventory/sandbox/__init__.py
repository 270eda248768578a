"""A HAR-compatible sandbox server, faithful to `shared/har/API-NOTES.md`.

The job's tests and `make demo` run against it over real loopback HTTP. It
shares no code with the client: its routing (`routing.py`) is written from
the notes so the tests check the client independently.

Modules: `dataset` (the generated data, frozen dataclasses), `responses`
(expected `data` objects and errors as values), `routing` (raw path ->
route), `faults` (the `--faults SPEC` syntax), `gateway` (rate limit,
request log, proxy pages), `app` (the aiohttp app), `input_csv` (matching
input files), `server` (CLI and `start_in_thread`).
"""

from .dataset import DEFAULT_IMAGES, DEFAULT_SEED, Dataset, generate_dataset
from .faults import FaultSpec, parse_faults
from .input_csv import CsvRow, input_rows, write_input_csv
from .responses import ApiError, detail_data, format_size
from .server import SandboxHandle, SandboxOptions, add_arguments, main, start_in_thread

__all__ = [
    "DEFAULT_IMAGES", "DEFAULT_SEED", "Dataset", "generate_dataset", "FaultSpec", "parse_faults",
    "CsvRow", "input_rows", "write_input_csv", "ApiError", "detail_data", "format_size",
    "SandboxHandle", "SandboxOptions", "add_arguments", "main", "start_in_thread",
]
