# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_walden_global_optspecs
    string join \n config= v/verbose q/quiet repo= compression= compression-level= encrypt-recipient= encrypt-recipients-file= decrypt-identity= log-format= log-level= h/help V/version
end

function __fish_walden_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_walden_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_walden_using_subcommand
    set -l cmd (__fish_walden_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c walden -n "__fish_walden_needs_command" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_needs_command" -l repo -d 'Repository: a local directory (absolute path or file:///path)' -r
complete -c walden -n "__fish_walden_needs_command" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_needs_command" -l compression-level -d 'zstd level for new objects, 1..=19 [default: 3]' -r
complete -c walden -n "__fish_walden_needs_command" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_needs_command" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_needs_command" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_needs_command" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_needs_command" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_needs_command" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_needs_command" -s q -l quiet -d 'Less log output (repeat for less)'
complete -c walden -n "__fish_walden_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_needs_command" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_needs_command" -f -a "wal-push" -d 'Archive one completed WAL file; PostgreSQL\'s archive_command (`walden wal-push %p`)'
complete -c walden -n "__fish_walden_needs_command" -f -a "wal-fetch" -d 'Restore one WAL file from the archive; PostgreSQL\'s restore_command (`walden wal-fetch %f %p`)'
complete -c walden -n "__fish_walden_needs_command" -f -a "demo" -d 'Tour on a throwaway cluster: archive WAL to a local repo, then recover a copy from it'
complete -c walden -n "__fish_walden_needs_command" -f -a "man" -d 'Write the man pages'
complete -c walden -n "__fish_walden_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c walden -n "__fish_walden_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l repo -d 'Repository: a local directory (absolute path or file:///path)' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l compression-level -d 'zstd level for new objects, 1..=19 [default: 3]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand wal-push" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand wal-push" -s q -l quiet -d 'Less log output (repeat for less)'
complete -c walden -n "__fish_walden_using_subcommand wal-push" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand wal-push" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l repo -d 'Repository: a local directory (absolute path or file:///path)' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l compression-level -d 'zstd level for new objects, 1..=19 [default: 3]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -s q -l quiet -d 'Less log output (repeat for less)'
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand demo" -l dir -d 'Directory for the demo\'s clusters and repository [default: a new temporary directory]' -r -F
complete -c walden -n "__fish_walden_using_subcommand demo" -l pg-bin -d 'Directory with PostgreSQL\'s server binaries (initdb, pg_ctl, postgres) [default: from pg_config, or /usr/lib/postgresql/15/bin]' -r -F
complete -c walden -n "__fish_walden_using_subcommand demo" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand demo" -l repo -d 'Repository: a local directory (absolute path or file:///path)' -r
complete -c walden -n "__fish_walden_using_subcommand demo" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand demo" -l compression-level -d 'zstd level for new objects, 1..=19 [default: 3]' -r
complete -c walden -n "__fish_walden_using_subcommand demo" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand demo" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand demo" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand demo" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand demo" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand demo" -l keep -d 'Keep the directory afterwards instead of removing it'
complete -c walden -n "__fish_walden_using_subcommand demo" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand demo" -s q -l quiet -d 'Less log output (repeat for less)'
complete -c walden -n "__fish_walden_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand demo" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand man" -l out-dir -d 'Directory to write walden.1 and one page per command into' -r -F
complete -c walden -n "__fish_walden_using_subcommand man" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand man" -l repo -d 'Repository: a local directory (absolute path or file:///path)' -r
complete -c walden -n "__fish_walden_using_subcommand man" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand man" -l compression-level -d 'zstd level for new objects, 1..=19 [default: 3]' -r
complete -c walden -n "__fish_walden_using_subcommand man" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand man" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand man" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand man" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand man" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand man" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand man" -s q -l quiet -d 'Less log output (repeat for less)'
complete -c walden -n "__fish_walden_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand man" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand completions" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand completions" -l repo -d 'Repository: a local directory (absolute path or file:///path)' -r
complete -c walden -n "__fish_walden_using_subcommand completions" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand completions" -l compression-level -d 'zstd level for new objects, 1..=19 [default: 3]' -r
complete -c walden -n "__fish_walden_using_subcommand completions" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand completions" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand completions" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand completions" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand completions" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand completions" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand completions" -s q -l quiet -d 'Less log output (repeat for less)'
complete -c walden -n "__fish_walden_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand completions" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch demo man completions help" -f -a "wal-push" -d 'Archive one completed WAL file; PostgreSQL\'s archive_command (`walden wal-push %p`)'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch demo man completions help" -f -a "wal-fetch" -d 'Restore one WAL file from the archive; PostgreSQL\'s restore_command (`walden wal-fetch %f %p`)'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch demo man completions help" -f -a "demo" -d 'Tour on a throwaway cluster: archive WAL to a local repo, then recover a copy from it'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch demo man completions help" -f -a "man" -d 'Write the man pages'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch demo man completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch demo man completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
