"""Exercises for the notebooks: one module per notebook (``nb00`` …), each declaring its problems.

>>> from lakehouse_lab.exercises import ____, Problem
"""
from .core import Outcome, Problem, ____

__all__ = ["Problem", "Outcome", "____"]
