# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_walden_global_optspecs
    string join \n config= v/verbose q/quiet repo= compression= compression-level= encrypt-recipient= encrypt-recipients-file= decrypt-identity= log-format= log-level= io-timeout= s3-endpoint= s3-region= s3-path-style= s3-profile= s3-checksums= s3-storage-class= s3-sse= s3-sse-kms-key-id= gcs-endpoint= gcs-grpc-endpoint= gcs-credentials-file= h/help V/version
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
complete -c walden -n "__fish_walden_needs_command" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_needs_command" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_needs_command" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
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
complete -c walden -n "__fish_walden_needs_command" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_needs_command" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_needs_command" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_needs_command" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_needs_command" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_needs_command" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_needs_command" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_needs_command" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_needs_command" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_needs_command" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_needs_command" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_needs_command" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_needs_command" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_needs_command" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_needs_command" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_needs_command" -f -a "wal-push" -d 'Archive one completed WAL file; PostgreSQL\'s archive_command (`walden wal-push %p`)'
complete -c walden -n "__fish_walden_needs_command" -f -a "wal-fetch" -d 'Fetch one WAL file; PostgreSQL\'s restore_command (`walden wal-fetch %f %p`)'
complete -c walden -n "__fish_walden_needs_command" -f -a "backup-push" -d 'Take a throttled base backup of a running cluster into the repository'
complete -c walden -n "__fish_walden_needs_command" -f -a "backup-list" -d 'List the backups in the repository'
complete -c walden -n "__fish_walden_needs_command" -f -a "restore" -d 'Restore a backup into a new data directory, set up for point-in-time recovery'
complete -c walden -n "__fish_walden_needs_command" -f -a "prune" -d 'Delete what the retention policy no longer needs (a dry run unless --apply)'
complete -c walden -n "__fish_walden_needs_command" -f -a "verify" -d 'Re-read the repository: every checksum, manifest and each backup\'s WAL chain'
complete -c walden -n "__fish_walden_needs_command" -f -a "status" -d 'Is the archive healthy? Nagios exit codes and Prometheus metrics'
complete -c walden -n "__fish_walden_needs_command" -f -a "drill" -d 'Prove the newest backup restores: restore, start PostgreSQL, replay, run a check'
complete -c walden -n "__fish_walden_needs_command" -f -a "check" -d 'Check the setup end to end: repository, keys, identity, archive_command'
complete -c walden -n "__fish_walden_needs_command" -f -a "info" -d 'The recoverable window per timeline, and each backup\'s age, type and size'
complete -c walden -n "__fish_walden_needs_command" -f -a "demo" -d 'Tour on a throwaway cluster: archive, back up, write, restore to a point in time'
complete -c walden -n "__fish_walden_needs_command" -f -a "man" -d 'Write the man pages into a directory (scripts/install.sh installs them)'
complete -c walden -n "__fish_walden_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c walden -n "__fish_walden_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l jobs -d 'Segments archived in parallel. Above 1, each call also archives the next segments PostgreSQL has marked ready (up to 4×N) and records them in the spool, so that PostgreSQL\'s calls for them return at once [default: 1: only the segment asked for]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l spool-dir -d 'Local directory for read-ahead markers and prefetched segments, outside the data directory [default: .walden-spool beside the data directory]' -r -F
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
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
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-push" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand wal-push" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand wal-push" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand wal-push" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand wal-push" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l prefetch -d 'Segments to fetch ahead, in the background, into the spool: PostgreSQL\'s next calls are then served from local disk, verified [default: 0: no prefetch]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l spool-dir -d 'Local directory for prefetched segments, outside the data directory [default: .walden-spool beside the data directory]' -r -F
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l prefetch-worker -d 'Internal: run as the background prefetcher after NAME, for segments of this many bytes' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
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
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand wal-fetch" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l pgdata -d 'Read the backup from this data directory; without it, over the network' -r -F
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l pg-host -d 'Server host or Unix-socket directory [env: PGHOST; default: /var/run/postgresql]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l pg-port -d 'Server port [env: PGPORT; default: 5432]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l pg-user -d 'User to connect as (needs pg_backup_start rights) [env: PGUSER; default: the OS user]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l pg-database -d 'Database to connect to [env: PGDATABASE; default: the user name]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l pg-sslmode -d 'TLS over TCP: disable, prefer, require, verify-ca, verify-full [env: PGSSLMODE; default: prefer]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l pg-sslrootcert -d 'CA certificate(s) the server\'s must chain to, or "system" [env: PGSSLROOTCERT; default: ~/.postgresql/root.crt]' -r -F
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l pg-sslcert -d 'Client certificate for cert authentication [env: PGSSLCERT; default: ~/.postgresql/postgresql.crt]' -r -F
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l pg-sslkey -d 'Private key of the client certificate [env: PGSSLKEY; default: ~/.postgresql/postgresql.key]' -r -F
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l max-rate -d 'Limit the backup\'s reads (the data directory\'s disk, or the server\'s stream, also limited server-side): bytes per second with unit and /s, e.g. 50MB/s [default: unlimited]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l io-priority -d 'I/O scheduling priority of the backup\'s disk reads [default: unchanged]' -r -f -a "idle\t'Read the disk only when nothing else wants it (Linux ioprio class idle)'
best-effort\t'Normal priority, lowest level within it'"
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l jobs -d 'Parts compressed and uploaded in parallel [default: 2]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l checkpoint -d 'Start checkpoint [default: spread]' -r -f -a "spread\t'Spread the start checkpoint over checkpoint_completion_target × checkpoint_timeout (gentle; the default; up to 4.5 min with PostgreSQL\'s defaults, announced with the server\'s estimate)'
fast\t'Checkpoint at once (faster start, an I/O burst)'"
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l archive-timeout -d 'Fail when the WAL the backup ends in has not reached the repository after this long: archiving is broken [default: 10m]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l incremental-from -d 'Build on this backup instead of the newest (implies --incremental)' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l max-chain -d 'The longest chain, its full backup included; then the next backup is full' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l part-size-mib -d 'Target plaintext size of one tar part, in MiB' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l incremental -d 'Only the blocks changed since the newest backup (PostgreSQL 17+, summarize_wal = on)'
complete -c walden -n "__fish_walden_using_subcommand backup-push" -l incremental-or-full -d 'Like --incremental, but a full backup (and a warning) when one cannot be taken'
complete -c walden -n "__fish_walden_using_subcommand backup-push" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand backup-push" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand backup-push" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand backup-push" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l json -d 'Print JSON (stable field names, for scripts)'
complete -c walden -n "__fish_walden_using_subcommand backup-list" -l all -d 'Also list incomplete backups (no manifest: interrupted or in progress)'
complete -c walden -n "__fish_walden_using_subcommand backup-list" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand backup-list" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand backup-list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand backup-list" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand restore" -l pgdata -d 'Data directory to create; must be missing or empty' -r -F
complete -c walden -n "__fish_walden_using_subcommand restore" -l jobs -d 'Parts downloaded and unpacked in parallel' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l tablespace-map -d 'Put tablespace OID at DIR instead of its original location (repeatable)' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l target-time -d 'Recover up to this time, e.g. \'2026-11-24 10:00:00+00\' (an offset is required)' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l target-lsn -d 'Recover up to this WAL position, e.g. 0/3000060' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l target-xid -d 'Recover up to the commit of this transaction id' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l target-name -d 'Recover up to this restore point (pg_create_restore_point)' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l target-action -d 'What to do at the target: pause (inspect, then promote), promote, or shutdown [PostgreSQL\'s default: pause]' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l target-timeline -d 'Timeline to recover along: latest, current, or a number [PostgreSQL\'s default: latest]' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l primary-conninfo -d 'With --standby: stream from the server this libpq connection string reaches (primary_conninfo), e.g. \'host=primary.example user=replicator\'; restore_command stays as the fallback. Written as given into postgresql.auto.conf; printed with password= masked' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l slot -d 'With --primary-conninfo: the physical replication slot on the primary that keeps WAL for this standby (primary_slot_name)' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l archive-mode -d 'Whether the restored cluster archives WAL: off writes archive_mode = off, so a test or clone never archives into this repository; preserve keeps the backup\'s archive settings (for a replacement primary). [default: off, or preserve with --standby]' -r -f -a "off\t''
preserve\t''"
complete -c walden -n "__fish_walden_using_subcommand restore" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand restore" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand restore" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand restore" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand restore" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand restore" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand restore" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand restore" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand restore" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand restore" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand restore" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand restore" -l tablespaces-in-place -d 'As root, write unmapped tablespaces at the locations the backup names (outside --pgdata) instead of refusing'
complete -c walden -n "__fish_walden_using_subcommand restore" -l target-immediate -d 'Stop as soon as the backup is consistent'
complete -c walden -n "__fish_walden_using_subcommand restore" -l target-exclusive -d 'Stop just before the target instead of just after it'
complete -c walden -n "__fish_walden_using_subcommand restore" -l standby -d 'Set up a standby (standby.signal) instead of a one-off recovery'
complete -c walden -n "__fish_walden_using_subcommand restore" -l create-slot -d 'Create --slot on the primary after the restore (pg_create_physical_replication_slot, reserving WAL at once), connecting with --primary-conninfo (database postgres unless it names one); an existing inactive physical slot of that name is used as it is'
complete -c walden -n "__fish_walden_using_subcommand restore" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand restore" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand restore" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand prune" -l retain-full -d 'Keep the N newest complete backups' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l retain-days -d 'Keep complete backups that finished within D days' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l wal-retain-days -d 'Keep point-in-time recovery possible to any moment of the last D days: also keeps the newest backup that finished before that window, and all WAL after it' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l incomplete-grace -d 'An incomplete backup (no manifest) silent for less than this may still be running and is kept [default: 24h]' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand prune" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand prune" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand prune" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand prune" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand prune" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand prune" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand prune" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand prune" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand prune" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand prune" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand prune" -l apply -d 'Delete what the plan says; without it, prune only prints the plan'
complete -c walden -n "__fish_walden_using_subcommand prune" -l json -d 'Print the plan as JSON (stable field names, for scripts)'
complete -c walden -n "__fish_walden_using_subcommand prune" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand prune" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand prune" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand verify" -l jobs -d 'Objects read in parallel' -r
complete -c walden -n "__fish_walden_using_subcommand verify" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand verify" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand verify" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand verify" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
complete -c walden -n "__fish_walden_using_subcommand verify" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand verify" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand verify" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand verify" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand verify" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand verify" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand verify" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand verify" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand verify" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand verify" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand verify" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand verify" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand verify" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand verify" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand verify" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand verify" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand verify" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand verify" -l wal -d 'Also re-read every archived WAL file and check its checksum'
complete -c walden -n "__fish_walden_using_subcommand verify" -l quick -d 'Check only what the listing and manifests show (sizes, WAL continuity, orphans); read no parts'
complete -c walden -n "__fish_walden_using_subcommand verify" -l json -d 'Print the report as JSON'
complete -c walden -n "__fish_walden_using_subcommand verify" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand verify" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand verify" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand status" -l max-backup-age -d 'Age of the newest complete backup [default: 26h,52h]' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l max-wal-age -d 'Age of the newest archived WAL file [default: not checked: an idle cluster writes no WAL unless archive_timeout is set]' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l max-drill-age -d 'Age of the newest successful drill [default: not checked]' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l prometheus -d 'Also write the figures as a Prometheus node_exporter textfile, atomically' -r -F
complete -c walden -n "__fish_walden_using_subcommand status" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand status" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand status" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand status" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand status" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand status" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand status" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand status" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand status" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand status" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand status" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand status" -l json -d 'Print the report as JSON'
complete -c walden -n "__fish_walden_using_subcommand status" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand status" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand status" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand drill" -l check-sql -d 'Query that must succeed on the restored cluster (run with psql in the postgres database)' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l check-user -d 'Role the check connects as (a superuser for --amcheck)' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l check-database -d 'Database the check query runs in' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l pg-bin -d 'Directory with PostgreSQL\'s server binaries (pg_ctl, postgres) of the backup\'s major version, checked with `postgres --version` before anything is restored; psql and pg_amcheck come from there too, else from the newest /usr/lib/postgresql/<major>/bin or PATH [default: /usr/lib/postgresql/<backup\'s major>/bin if installed, else pg_config\'s if it is that major]' -r -F
complete -c walden -n "__fish_walden_using_subcommand drill" -l work-dir -d 'Where to create the temporary data directory [default: the system\'s temporary directory]' -r -F
complete -c walden -n "__fish_walden_using_subcommand drill" -l timeout -d 'Give up when the cluster is not ready after this long (replay included)' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l jobs -d 'Parts downloaded and unpacked in parallel' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand drill" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand drill" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand drill" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand drill" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand drill" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand drill" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand drill" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand drill" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand drill" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand drill" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand drill" -l amcheck -d 'Also run pg_amcheck --all (heap and B-tree checks) on the restored cluster'
complete -c walden -n "__fish_walden_using_subcommand drill" -l keep-failed -d 'Keep the restored directory when the drill fails, for inspection'
complete -c walden -n "__fish_walden_using_subcommand drill" -l json -d 'Print the result as JSON'
complete -c walden -n "__fish_walden_using_subcommand drill" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand drill" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand drill" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand drill" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand check" -l pg-host -d 'Server host or Unix-socket directory [env: PGHOST; default: /var/run/postgresql]' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l pg-port -d 'Server port [env: PGPORT; default: 5432]' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l pg-user -d 'User to connect as (needs pg_backup_start rights) [env: PGUSER; default: the OS user]' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l pg-database -d 'Database to connect to [env: PGDATABASE; default: the user name]' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l pg-sslmode -d 'TLS over TCP: disable, prefer, require, verify-ca, verify-full [env: PGSSLMODE; default: prefer]' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l pg-sslrootcert -d 'CA certificate(s) the server\'s must chain to, or "system" [env: PGSSLROOTCERT; default: ~/.postgresql/root.crt]' -r -F
complete -c walden -n "__fish_walden_using_subcommand check" -l pg-sslcert -d 'Client certificate for cert authentication [env: PGSSLCERT; default: ~/.postgresql/postgresql.crt]' -r -F
complete -c walden -n "__fish_walden_using_subcommand check" -l pg-sslkey -d 'Private key of the client certificate [env: PGSSLKEY; default: ~/.postgresql/postgresql.key]' -r -F
complete -c walden -n "__fish_walden_using_subcommand check" -l timeout -d 'How long the archive check waits for the switched segment to reach the repository' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand check" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand check" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand check" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand check" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand check" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand check" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand check" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand check" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand check" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand check" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand check" -l init -d 'Record the cluster\'s identity in a new repository now (needs a server connection), instead of at the first wal-push'
complete -c walden -n "__fish_walden_using_subcommand check" -l read-only -d 'Only list and read the repository; write nothing (for hosts that only restore)'
complete -c walden -n "__fish_walden_using_subcommand check" -l replication -d 'Connect as backup-push does without --pgdata: over the replication protocol, as a role with the REPLICATION attribute (a backup host, a CronJob pod). The server and identity checks then use IDENTIFY_SYSTEM; the archive check, which needs an SQL session, is skipped: run check without this flag where archive_command runs'
complete -c walden -n "__fish_walden_using_subcommand check" -l json -d 'Print the checks as a JSON array (stable field names, for scripts)'
complete -c walden -n "__fish_walden_using_subcommand check" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand check" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand check" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand info" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand info" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand info" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand info" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
complete -c walden -n "__fish_walden_using_subcommand info" -l encrypt-recipient -d 'Encrypt new objects to this age recipient (age1…); repeatable, or comma-separated in the environment' -r
complete -c walden -n "__fish_walden_using_subcommand info" -l encrypt-recipients-file -d 'File of age recipients, one per line (\'#\' comments allowed); adds to --encrypt-recipient' -r -F
complete -c walden -n "__fish_walden_using_subcommand info" -l decrypt-identity -d 'age identity file (from age-keygen) to decrypt objects when fetching or restoring' -r -F
complete -c walden -n "__fish_walden_using_subcommand info" -l log-format -d 'Log format on stderr [default: text]' -r -f -a "text\t'Human-readable lines'
logfmt\t'key=value pairs, one event per line'
json\t'One JSON object per line'"
complete -c walden -n "__fish_walden_using_subcommand info" -l log-level -d 'Log level [default: info]; -v and -q move it up and down' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c walden -n "__fish_walden_using_subcommand info" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand info" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand info" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand info" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand info" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand info" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand info" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand info" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand info" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand info" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand info" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand info" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand info" -l json -d 'Print JSON (stable field names, for scripts)'
complete -c walden -n "__fish_walden_using_subcommand info" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand info" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand info" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand info" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand demo" -l dir -d 'Directory for the demo\'s clusters and repository [default: a new temporary directory]' -r -F
complete -c walden -n "__fish_walden_using_subcommand demo" -l pg-bin -d 'Directory with PostgreSQL\'s server binaries (initdb, pg_ctl, postgres) [default: from pg_config, or /usr/lib/postgresql/15/bin]' -r -F
complete -c walden -n "__fish_walden_using_subcommand demo" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand demo" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand demo" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand demo" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
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
complete -c walden -n "__fish_walden_using_subcommand demo" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand demo" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand demo" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand demo" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand demo" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand demo" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand demo" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand demo" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand demo" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand demo" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand demo" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand demo" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand demo" -l keep -d 'Keep the directory afterwards instead of removing it'
complete -c walden -n "__fish_walden_using_subcommand demo" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand demo" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand demo" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand man" -l out-dir -d 'Directory to write walden.1 and one page per command into' -r -F
complete -c walden -n "__fish_walden_using_subcommand man" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand man" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand man" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand man" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
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
complete -c walden -n "__fish_walden_using_subcommand man" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand man" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand man" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand man" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand man" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand man" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand man" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand man" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand man" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand man" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand man" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand man" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand man" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand man" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand man" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand completions" -l config -d 'TOML configuration file [default: /etc/walden/walden.toml if present]' -r -F
complete -c walden -n "__fish_walden_using_subcommand completions" -l repo -d 'Repository: a local directory (absolute path or file:///path), s3://bucket/prefix or gs://bucket/prefix' -r
complete -c walden -n "__fish_walden_using_subcommand completions" -l compression -d 'Compression for new objects [default: zstd]. Reading picks the codec from the object\'s name, whatever this says' -r -f -a "none\t''
zstd\t''
snappy\t''"
complete -c walden -n "__fish_walden_using_subcommand completions" -l compression-level -d 'zstd level for new objects: -7 to -1 (fastest) or 1 to 19 [default: 1 for WAL, 3 for backups]' -r
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
complete -c walden -n "__fish_walden_using_subcommand completions" -l io-timeout -d 'A storage request that makes no progress for this long fails (and is retried) [default: 60]' -r
complete -c walden -n "__fish_walden_using_subcommand completions" -l s3-endpoint -d 'S3-compatible service to use instead of AWS, e.g. https://minio.example:9000' -r
complete -c walden -n "__fish_walden_using_subcommand completions" -l s3-region -d 'The bucket\'s region [default: from the AWS chain; us-east-1 with --s3-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand completions" -l s3-path-style -d 'Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (most S3-compatible servers need it)' -r -f -a "true\t''
false\t''"
complete -c walden -n "__fish_walden_using_subcommand completions" -l s3-profile -d 'Profile in ~/.aws/config and ~/.aws/credentials to take credentials and region from' -r
complete -c walden -n "__fish_walden_using_subcommand completions" -l s3-checksums -d 'When to send request checksums [default: when-supported]; when-required suits S3-compatible stores that reject aws-chunked uploads' -r -f -a "when-supported\t'Whenever the operation supports them (aws-chunked uploads with trailing checksums)'
when-required\t'Only where the operation requires them'"
complete -c walden -n "__fish_walden_using_subcommand completions" -l s3-storage-class -d 'Storage class of new objects, e.g. STANDARD_IA [default: the bucket\'s]' -r
complete -c walden -n "__fish_walden_using_subcommand completions" -l s3-sse -d 'Server-side encryption of new objects [default: the bucket\'s]' -r -f -a "AES256\t'S3-managed keys'
aws:kms\t'AWS KMS keys (see --s3-sse-kms-key-id)'"
complete -c walden -n "__fish_walden_using_subcommand completions" -l s3-sse-kms-key-id -d 'KMS key for --s3-sse aws:kms [default: the account\'s S3 key]' -r
complete -c walden -n "__fish_walden_using_subcommand completions" -l gcs-endpoint -d 'GCS JSON API endpoint of an emulator; requests are then anonymous unless --gcs-credentials-file is given' -r
complete -c walden -n "__fish_walden_using_subcommand completions" -l gcs-grpc-endpoint -d 'GCS gRPC endpoint (list, delete, metadata) of an emulator [default: --gcs-endpoint]' -r
complete -c walden -n "__fish_walden_using_subcommand completions" -l gcs-credentials-file -d 'Service-account key file (JSON) [default: Application Default Credentials]' -r -F
complete -c walden -n "__fish_walden_using_subcommand completions" -s v -l verbose -d 'More log output (repeat for more)'
complete -c walden -n "__fish_walden_using_subcommand completions" -s q -l quiet -d 'Quiet: print nothing on success (for cron), only warnings and errors; repeat for errors only'
complete -c walden -n "__fish_walden_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c walden -n "__fish_walden_using_subcommand completions" -s V -l version -d 'Print version'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "wal-push" -d 'Archive one completed WAL file; PostgreSQL\'s archive_command (`walden wal-push %p`)'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "wal-fetch" -d 'Fetch one WAL file; PostgreSQL\'s restore_command (`walden wal-fetch %f %p`)'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "backup-push" -d 'Take a throttled base backup of a running cluster into the repository'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "backup-list" -d 'List the backups in the repository'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "restore" -d 'Restore a backup into a new data directory, set up for point-in-time recovery'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "prune" -d 'Delete what the retention policy no longer needs (a dry run unless --apply)'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "verify" -d 'Re-read the repository: every checksum, manifest and each backup\'s WAL chain'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "status" -d 'Is the archive healthy? Nagios exit codes and Prometheus metrics'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "drill" -d 'Prove the newest backup restores: restore, start PostgreSQL, replay, run a check'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "check" -d 'Check the setup end to end: repository, keys, identity, archive_command'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "info" -d 'The recoverable window per timeline, and each backup\'s age, type and size'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "demo" -d 'Tour on a throwaway cluster: archive, back up, write, restore to a point in time'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "man" -d 'Write the man pages into a directory (scripts/install.sh installs them)'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c walden -n "__fish_walden_using_subcommand help; and not __fish_seen_subcommand_from wal-push wal-fetch backup-push backup-list restore prune verify status drill check info demo man completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
