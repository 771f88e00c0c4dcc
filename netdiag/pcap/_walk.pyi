from typing_extensions import Buffer

def walk(
    buf: Buffer, start: int, fmt: int, big_endian: bool, max_records: int, /
) -> tuple[bytes, int, int, int]: ...
def span(
    buf: Buffer, start: int, big_endian: bool, lo_ns: int, hi_ns: int, units: int, /
) -> tuple[int, int, int, int, int, int, int]: ...
