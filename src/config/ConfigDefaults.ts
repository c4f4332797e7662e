/**
 * OpenSSH 9.2's client defaults (readconf.c's `fill_default_options`, myproposal.h), in one
 * place: what a keyword means when no config line sets it. `ssh -G` from OpenSSH 9.2 is the
 * oracle the tests hold these to.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category defaults
 */
export const port = 22

/**
 * The identity files ssh tries when no `IdentityFile` (or `-i`) names one, in its order; each
 * only when it exists.
 *
 * @since 0.1.0
 * @category defaults
 */
export const identityFiles: ReadonlyArray<string> = [
  "~/.ssh/id_rsa",
  "~/.ssh/id_ecdsa",
  "~/.ssh/id_ecdsa_sk",
  "~/.ssh/id_ed25519",
  "~/.ssh/id_ed25519_sk",
  "~/.ssh/id_xmss",
  "~/.ssh/id_dsa"
]

/**
 * @since 0.1.0
 * @category defaults
 */
export const userKnownHostsFiles: ReadonlyArray<string> = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]

/**
 * @since 0.1.0
 * @category defaults
 */
export const globalKnownHostsFiles: ReadonlyArray<string> = ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]

/**
 * The user's file, relative to the home directory, and the system one.
 *
 * @since 0.1.0
 * @category defaults
 */
export const userConfigFile = ".ssh/config"

/**
 * @since 0.1.0
 * @category defaults
 */
export const systemConfigFile = "/etc/ssh/ssh_config"

/**
 * Where a relative `Include` is taken from: `~/.ssh` in user files, this in the system file.
 *
 * @since 0.1.0
 * @category defaults
 */
export const systemConfigDir = "/etc/ssh"

/**
 * ssh's bound on nested `Include`s (READCONF_MAX_DEPTH).
 *
 * @since 0.1.0
 * @category defaults
 */
export const maxIncludeDepth = 16

/**
 * @since 0.1.0
 * @category defaults
 */
export const numberOfPasswordPrompts = 3

/**
 * The methods in ssh's order (gssapi-with-mic runs only where GSSAPIAuthentication is on).
 *
 * @since 0.1.0
 * @category defaults
 */
export const preferredAuthentications: ReadonlyArray<string> = ["gssapi-with-mic", "publickey", "keyboard-interactive", "password"]

/**
 * Seconds for a whole login (ours: ssh has no such bound; sshd's default for its side).
 *
 * @since 0.1.0
 * @category defaults
 */
export const loginGraceTime = 120

/**
 * Milliseconds a `Match exec` command may run (ours: ssh waits for ever).
 *
 * @since 0.1.0
 * @category defaults
 */
export const execTimeoutMs = 10_000

/**
 * `KexAlgorithms` when the config leaves it alone: OpenSSH 10's order, hybrid post-quantum
 * methods first (ssh 9.2 here predates ML-KEM; its list is the same less that one and the
 * sntrup761 name without @openssh.com).
 *
 * @since 0.1.0
 * @category defaults
 */
export const kexAlgorithms: ReadonlyArray<string> = [
  "mlkem768x25519-sha256",
  "sntrup761x25519-sha512",
  "sntrup761x25519-sha512@openssh.com",
  "curve25519-sha256",
  "curve25519-sha256@libssh.org",
  "ecdh-sha2-nistp256",
  "ecdh-sha2-nistp384",
  "ecdh-sha2-nistp521",
  "diffie-hellman-group-exchange-sha256",
  "diffie-hellman-group16-sha512",
  "diffie-hellman-group18-sha512",
  "diffie-hellman-group14-sha256"
]

/**
 * Every kex method ssh knows, in its order: what `+`, `-` and `^` lists may name.
 *
 * @since 0.1.0
 * @category defaults
 */
export const allKexAlgorithms: ReadonlyArray<string> = [
  "diffie-hellman-group1-sha1",
  "diffie-hellman-group14-sha1",
  "diffie-hellman-group14-sha256",
  "diffie-hellman-group16-sha512",
  "diffie-hellman-group18-sha512",
  "diffie-hellman-group-exchange-sha1",
  "diffie-hellman-group-exchange-sha256",
  "ecdh-sha2-nistp256",
  "ecdh-sha2-nistp384",
  "ecdh-sha2-nistp521",
  "curve25519-sha256",
  "curve25519-sha256@libssh.org",
  "sntrup761x25519-sha512",
  "sntrup761x25519-sha512@openssh.com",
  "mlkem768x25519-sha256"
]

/**
 * `HostKeyAlgorithms` and `PubkeyAcceptedAlgorithms` when the config leaves them alone.
 *
 * @since 0.1.0
 * @category defaults
 */
export const keyAlgorithms: ReadonlyArray<string> = [
  "ssh-ed25519-cert-v01@openssh.com",
  "ecdsa-sha2-nistp256-cert-v01@openssh.com",
  "ecdsa-sha2-nistp384-cert-v01@openssh.com",
  "ecdsa-sha2-nistp521-cert-v01@openssh.com",
  "sk-ssh-ed25519-cert-v01@openssh.com",
  "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
  "rsa-sha2-512-cert-v01@openssh.com",
  "rsa-sha2-256-cert-v01@openssh.com",
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
  "rsa-sha2-512",
  "rsa-sha2-256"
]

/**
 * Every key algorithm ssh knows, in its order: what `+`, `-` and `^` lists may name.
 *
 * @since 0.1.0
 * @category defaults
 */
export const allKeyAlgorithms: ReadonlyArray<string> = [
  "ssh-ed25519",
  "ssh-ed25519-cert-v01@openssh.com",
  "sk-ssh-ed25519@openssh.com",
  "sk-ssh-ed25519-cert-v01@openssh.com",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp256-cert-v01@openssh.com",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp384-cert-v01@openssh.com",
  "ecdsa-sha2-nistp521",
  "ecdsa-sha2-nistp521-cert-v01@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
  "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
  "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
  "ssh-dss",
  "ssh-dss-cert-v01@openssh.com",
  "ssh-rsa",
  "ssh-rsa-cert-v01@openssh.com",
  "rsa-sha2-256",
  "rsa-sha2-256-cert-v01@openssh.com",
  "rsa-sha2-512",
  "rsa-sha2-512-cert-v01@openssh.com"
]
