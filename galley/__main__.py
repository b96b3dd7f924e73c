from galley.cli import main

main()
