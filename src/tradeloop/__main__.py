from tradeloop.cli.app import main

main()
