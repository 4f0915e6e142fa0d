"""Feature-based adapters: learn a map under which source and target look alike."""

from transferkit.adapt.feature.coral import CORAL
from transferkit.adapt.feature.jda import JDA
from transferkit.adapt.feature.sa import SA
from transferkit.adapt.feature.tca import TCA

__all__ = ["CORAL", "JDA", "SA", "TCA"]
