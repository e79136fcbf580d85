"""`litesmith optimize --recipe FILE` and `--save-recipe FILE`: the variants as a file (`core.optimize.recipe_file`).

* ``--recipe FILE`` makes exactly the variants the file lists. The file replaces
  the flags that describe variants (`RECIPE_FLAGS`: ``-q``, ``--int8-io``,
  ``--selective``, ``--fidelity-target``, ``--layer-errors``,
  ``--allow-select-tf-ops``, ``--prune``, ``--structured``, ``--distill``,
  ``--student-width``, ``--epochs``): giving one of them as well is refused (exit
  2) rather than silently preferring one side. Data, scoring and output options
  (``--data``, ``--out``, ``--report``, …) apply as usual: they are not part of a
  recipe. A bad file is one line naming it and the problem, exit 3.
* ``--save-recipe FILE`` writes the variants the command line describes (the
  flags, or the ``--recipe`` file) as a recipe file before the run starts, then
  runs as usual. It never writes over the model or the ``--recipe`` file.
* Neither goes with ``--auto`` (its candidates are a search, not a list of variants).
"""

from __future__ import annotations

import argparse
from typing import Callable

from core.cli.common import check_not_an_input
from core.optimize.recipe_file import read_recipe_file, write_recipe_file
from core.optimize.recipes import Recipe, RecipeError

# (flag, argparse dest, its "not given" value): the flags a recipe file replaces.
RECIPE_FLAGS: tuple[tuple[str, str, object], ...] = (
    ("--quantize", "quantize", None),
    ("--int8-io", "int8_io", False),
    ("--selective", "selective", False),
    ("--fidelity-target", "fidelity_target", None),
    ("--layer-errors", "layer_errors", False),
    ("--allow-select-tf-ops", "allow_select_tf_ops", False),
    ("--prune", "prune", None),
    ("--structured", "structured", False),
    ("--distill", "distill", False),
    ("--student-width", "student_width", None),
    ("--epochs", "epochs", None),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--recipe FILE`` and ``--save-recipe FILE`` to the optimize parser."""
    group = parser.add_argument_group("recipe files (the variants as JSON; schema litesmith.recipe)")
    group.add_argument(
        "--recipe",
        metavar="FILE.json",
        help="make the variants this recipe file lists (instead of -q/--prune/... flags, which are "
        "then refused; data and output options still apply)",
    )
    group.add_argument(
        "--save-recipe",
        metavar="FILE.json",
        help="also write the variants the command line describes as a recipe file (before the run)",
    )


def check_auto(args: argparse.Namespace) -> str | None:
    """A usage message when --recipe/--save-recipe come with --auto, else None."""
    given = [flag for flag, value in (("--recipe", args.recipe), ("--save-recipe", args.save_recipe)) if value]
    if given and getattr(args, "auto", False):
        verb = "do" if len(given) > 1 else "does"
        return f"{' and '.join(given)} {verb} not go with --auto (it searches its own candidates)"
    return None


def chosen_recipes(args: argparse.Namespace, from_flags: Callable[[argparse.Namespace], list[Recipe]]) -> list[Recipe]:
    """The variants to make: the --recipe file's, or `from_flags(args)`'s.

    Raises RecipeError (usage, exit 2) for --recipe given with a flag it replaces,
    and `core.optimize.recipe_file.RecipeFileError` (exit 3) for a bad file.
    """
    if not args.recipe:
        return from_flags(args)
    both = [flag for flag, dest, unset in RECIPE_FLAGS if getattr(args, dest, unset) != unset]
    if both:
        raise RecipeError(f"--recipe gives the variants; drop {', '.join(both)} (or drop --recipe)")
    return list(read_recipe_file(args.recipe).recipes)


def save(args: argparse.Namespace, recipes: list[Recipe]) -> None:
    """Write `recipes` to --save-recipe (if given), atomically.

    Raises ValueError (usage) when that path is a file the command reads (model, data, recipe, ...),
    BadInputError (exit 3) when its folder is missing, OutputError (exit 4) when it
    cannot be written.
    """
    target = args.save_recipe
    if not target:
        return
    check_not_an_input(target, args, "--save-recipe")
    write_recipe_file(target, recipes, created_by="litesmith optimize")
