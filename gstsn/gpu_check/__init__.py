"""One prepared GPU check: environment, CUDA tests, the step-time matrix, LT evaluation time, paper GaitSet training.

``bench/gpu_check.py`` is its entry point (docs/gpu.md: the exact device call, the phases, the output files). Phases,
in order, each with a time allowance inside one budget (:class:`gstsn.timing.budget.Budget`; a watchdog writes what
exists and exits at the end of the budget):

1. ``env`` (:mod:`.environment`): device, driver, torch, CUDA, cuDNN, and the same-run matmul rates;
2. ``tests`` (:mod:`.cuda_tests`): ``pytest -m cuda`` in a subprocess (JUnit XML kept);
3. ``matrix`` (:mod:`.matrix`, :mod:`.step_bench`): the trainer's own training step (``Trainer.step``) at the paper
   batch for GaitSet and GSTSN in fp32 / TF32 / bf16 × channels_last on/off × torch.compile on/off, plus the whole
   step as a CUDA graph; GaitSet and GSTSN of each setting are timed in alternating rounds (ABBA), so their ratio is
   paired and gives the "20 % less time" per-iteration verdict (``gstsn.timing.verdict.per_iteration``);
4. ``eval`` (:mod:`.evaluation`): ``gstsn.eval.embed.evaluate_model`` over the LT test set at several batch sizes;
5. ``train`` (:mod:`.training`, :mod:`.curve`): ``paper``-profile GaitSet on the real data with a time limit that
   fills what is left, rank-1 against training time, and a compact checkpoint (``gstsn.train.compact``) that
   ``--resume-from`` continues.

The real data is imported in the background meanwhile (:mod:`.data`); :mod:`.settings` holds the sizes of the real
check and of its dry run (the same code at tiny size on the CPU) and the reference figures; :mod:`.report` the output
files and the JSON report; :mod:`.summary` the goals and ``summary.txt``; :mod:`.cli` the command line and the order
of the phases.

A package of its own, not part of :mod:`gstsn.timing`: it drives the trainer, the evaluation and the data import as
well as the timing helpers, and the timing library stays free of those.
"""
