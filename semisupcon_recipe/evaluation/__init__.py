"""Evaluation of frozen encoders by probing: ``semisupcon evaluate`` and ``semisupcon robustness``.

- :mod:`~semisupcon_recipe.evaluation.tasks`: the tasks file (schema, checks);
- :mod:`~semisupcon_recipe.evaluation.probing`: features of a task and its probe runs; ``evaluate``;
- :mod:`~semisupcon_recipe.evaluation.robustness`: the corruption sweep of ``robustness``;
- :mod:`~semisupcon_recipe.evaluation.report`: summaries over seeds, markdown tables, plots;
- :mod:`~semisupcon_recipe.evaluation.command`: the two subcommands' options and runners.
"""
