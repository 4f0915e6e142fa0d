"""Instance-based adapters: re-weight or select source samples to resemble the target."""

from transferkit.adapt.instance.discriminative import DiscriminativeWeighting
from transferkit.adapt.instance.kliep import KLIEP
from transferkit.adapt.instance.kmm import KMM
from transferkit.adapt.instance.selection import InstanceSelection
from transferkit.adapt.instance.tradaboost import TrAdaBoost

__all__ = ["KLIEP", "KMM", "DiscriminativeWeighting", "InstanceSelection", "TrAdaBoost"]
