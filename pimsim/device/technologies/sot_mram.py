"""SOT-MRAM (2T1MTJ): the write current flows through a heavy-metal track under the MTJ, so
``mtj.write_path_resistance_ohm`` is the track's resistance; reads go through the MTJ."""

from pimsim.device.technologies.mtj import MtjTechnology


class SotMram(MtjTechnology):
    """Spin-orbit-torque MRAM."""

    name = "sot_mram"


TECHNOLOGY = SotMram()
