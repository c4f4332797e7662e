// bcrypt-pbkdf ships no types. It is OpenBSD's bcrypt_pbkdf, which openssh-key-v1 uses.
declare module "bcrypt-pbkdf" {
  export function pbkdf(
    pass: Uint8Array,
    passlen: number,
    salt: Uint8Array,
    saltlen: number,
    key: Uint8Array,
    keylen: number,
    rounds: number
  ): number
}
