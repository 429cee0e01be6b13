"""One module per subcommand; each exposes ``command`` (a click command or group).

Commands are thin adapters: options → ``ConnectOptions`` → core → renderer.
"""
