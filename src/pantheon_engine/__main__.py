from pantheon_engine.cli import main

main()
