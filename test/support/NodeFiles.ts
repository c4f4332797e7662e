/**
 * The real file system and path services, for tests that compare with OpenSSH on disk.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Layer from "effect/Layer"

export const layer = Layer.merge(NodeFileSystem.layer, NodePath.layer)
