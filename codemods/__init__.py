"""Built-in codemods, one module per rule (installed as ``gofix_conc.codemods``)."""
