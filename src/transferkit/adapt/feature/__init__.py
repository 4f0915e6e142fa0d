"""Feature-based adapters: learn a map under which source and target look alike."""

from transferkit.adapt.feature.coral import CORAL
from transferkit.adapt.feature.easytl import EasyTL, IntraDomainProgramming
from transferkit.adapt.feature.gfk import GFK
from transferkit.adapt.feature.jda import JDA
from transferkit.adapt.feature.meda import MEDA
from transferkit.adapt.feature.sa import SA
from transferkit.adapt.feature.tca import TCA

__all__ = ["CORAL", "GFK", "JDA", "MEDA", "SA", "TCA", "EasyTL", "IntraDomainProgramming"]
