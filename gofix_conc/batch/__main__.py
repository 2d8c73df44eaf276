"""``python -m gofix_conc.batch run|status|report``: the batch commands without the main CLI."""

from gofix_conc.batch.cli import main

main()
