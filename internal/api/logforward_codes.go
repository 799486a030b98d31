package api

// Error codes of log_forward.configure beside CodeBadRequest. The message
// starts with the attribute at fault ("files[1].path", "target.ca_file").
const (
	// CodeLogDirMissing means a log file's directory does not exist on the
	// host, so the file can never appear there.
	CodeLogDirMissing = "log_dir_missing"
	// CodeLogTLSFile means a CA, certificate or key file is missing, not a
	// regular file, or can be changed by a user other than root.
	CodeLogTLSFile = "log_tls_file"
)
