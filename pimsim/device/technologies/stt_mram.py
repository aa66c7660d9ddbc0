"""STT-MRAM (1T1MTJ): read and write share the MTJ path, so
``mtj.write_path_resistance_ohm`` is the MTJ's own resistance during the write."""

from pimsim.device.technologies.mtj import MtjTechnology


class SttMram(MtjTechnology):
    """Spin-transfer-torque MRAM."""

    name = "stt_mram"


TECHNOLOGY = SttMram()
