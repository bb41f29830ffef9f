/** Public surface of src/identity: mnemonics, keystore, identity keys and P8 logins. */
export { Identity } from './identity.ts';
export { createKeystore, keystorePublicKeys, openKeystore, readKeystoreFile } from './keystore.ts';
export {
  type LoginChallenge,
  type LoginOffer,
  parseSignedLogin,
  type SignedLogin,
  signLogin,
} from './login-challenge.ts';
export { LoginVerifier, type LoginVerifierOptions, type VerifiedLogin } from './login-verifier.ts';
export { checkMnemonic, generateMnemonic, mnemonicToSeed } from './mnemonic.ts';
export { readPassphrase } from './passphrase.ts';
