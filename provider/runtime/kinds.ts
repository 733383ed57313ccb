import type { BaseInputs, ResourceKind } from "../common/kind";
import { registerKind } from "./registry";

type AnyKind = ResourceKind<BaseInputs, object>;

// Each kind loads only when a resource of its type is first used, so a program with one kind of
// resource never loads the others' code.
registerKind("ConntrackHelperSetting", () => require("../resources/helper-setting/kind").helperSettingKind as AnyKind);
registerKind("NotrackRule", () => require("../resources/notrack-rule/kind").notrackRuleKind as AnyKind);
registerKind("ModuleBlacklist", () => require("../resources/module-blacklist/kind").moduleBlacklistKind as AnyKind);
