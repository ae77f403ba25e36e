"""The port-file handshake of the Python peers that tests start (HeraldTesting's ScriptPeer)."""

import os


def announce(port, path):
    """Writes PORT to PATH whole, by renaming a finished file into place, so that a reader
    polling for PATH never sees half a number."""
    partial = path + ".partial"
    with open(partial, "w") as file:
        file.write(str(port))
    os.replace(partial, path)
