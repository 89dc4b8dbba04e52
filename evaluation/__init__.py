"""The evaluation pipeline: how accurate and how costly each sync method is on media with known offsets.

    python -m evaluation.offset_generation   # synthetic copies of originals with known offsets
    python -m evaluation.run_batch           # both methods on every copy -> results.csv
    python -m evaluation.compute_metrics     # MAE, RMSE, success rates, breakdowns -> metrics.json/.md
    python -m evaluation.visualize_results   # PNG plots
    python -m evaluation.run_all --demo      # all four on a small generated set
    python -m evaluation.talking_faces       # synthetic talking faces with known audio shifts

``evaluation.synthetic_syncnet`` trains a small SyncNet on those faces and measures it.
"""
