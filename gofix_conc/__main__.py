from gofix_conc.cli import main

main()
