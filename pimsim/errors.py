"""The one exception type users see: the CLI prints it as a single line and exits non-zero."""


class PimsimError(Exception):
    """A user-facing error: bad input, a missing file, an invalid spec or parameter.

    The message is one line that names the file and the field at fault, e.g.
    ``device_params/x.yaml: read_voltage_v: must be > 0, got -0.1``.
    """
