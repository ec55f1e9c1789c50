"""Old module paths of the private modules, so that pickles from before the stage packages load.

A pickle names each class by the module that defined it when it was written. The private
modules once sat flat in the package (``sklearn_hier._spec`` and so on); they now live in
stage packages. Registering each old path as an alias of its new module lets ``pickle`` find
the class under either name. Saved netCDF files do not name modules and need none of this.
"""

import importlib
import sys

#: Old flat module -> its place in the stage packages.
MOVED = {
    "_families": "_base.families",
    "_spec": "_base.spec",
    "_validation": "_base.input_checks",
    "_effect_vocabulary": "_base.effect_vocabulary",
    "_design": "_data.design",
    "_treatment": "_data.treatment",
    "_row_inputs": "_data.row_inputs",
    "_row_patterns": "_data.row_patterns",
    "_statistics": "_data.sufficient_statistics",
    "_memory": "_data.memory",
    "_partitioned": "_data.partitioned",
    "_approximation": "_data.laplace",
    "_reduction": "_data.reduction",
    "_reduced": "_data.reduced",
    "_model": "_modeling.hierarchical",
    "_model_data": "_modeling.model_data",
    "_collapsed": "_modeling.marginal_gaussian",
    "_centring": "_modeling.geometry",
    "_prepared_data": "_modeling.inputs",
    "_inference": "_sampling.run",
    "_variational": "_sampling.variational",
    "_draws": "_sampling.draws",
    "_compilation_cache": "_base.compilation_cache",
    "_posterior": "_results.posterior",
    "_inference_data": "_results.inference_data",
    "_summary": "_results.draw_summaries",
    "_reporting": "_results.comparisons",
    "_persistence": "_results.persistence",
    "_nuisance": "_evaluation.nuisance",
    "_result_cache": "_evaluation.result_cache",
    "_routing": "_evaluation.routing",
}


def alias_moved_modules() -> None:
    """Make every old module path name its new module (the modules are imported anyway)."""
    package = __name__.rsplit(".", 1)[0]
    for old, new in MOVED.items():
        sys.modules.setdefault(f"{package}.{old}", importlib.import_module(f"{package}.{new}"))
