from streamhub.cli import main

main()
