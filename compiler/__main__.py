from integc.cli import main

main()
