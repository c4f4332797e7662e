/**
 * The curve operations SSH needs (X25519, Ed25519, NIST ECDH and ECDSA), behind one small
 * interface so that the implementation can be swapped: node:crypto (OpenSSL) is the fast
 * default on Node, @noble/curves is the portable one. Tests check the two against each other.
 *
 * The interface, its types and `CurveError` are defined in `CurveOps` and re-exported here;
 * this module adds the choice of implementation, {@link CurvesImpl}.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type { Curves } from "./CurveOps.js"
import { nodeCurves } from "./NodeCurves.js"

export {
  /**
   * @since 0.1.0
   * @category errors
   */
  CurveError,
  /**
   * @since 0.1.0
   * @category models
   */
  type Curves,
  /**
   * @since 0.1.0
   * @category models
   */
  type EcdsaSignature,
  /**
   * @since 0.1.0
   * @category models
   */
  type KeyPair,
  /**
   * @since 0.1.0
   * @category models
   */
  type NistCurve
} from "./CurveOps.js"

/**
 * The implementation in use. Defaults to node:crypto; provide `nobleCurves` from
 * `NobleCurves.ts` to run on the portable one.
 *
 * @since 0.1.0
 * @category services
 */
export class CurvesImpl extends Context.Reference<CurvesImpl>()("effect-ssh-auth/Curves", {
  defaultValue: (): Curves => nodeCurves
}) {}
