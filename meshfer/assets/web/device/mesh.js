// Twin of meshfer/mesh.py: the landmark index tables of the MediaPipe face mesh (tests/test_device_parity.py checks
// that every table here equals Python's).
export const N_LANDMARKS = 478;

export const BLENDSHAPE_NAMES = [
  "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
  "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
  "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
  "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
  "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
  "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
  "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
  "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
  "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
];

export const NOSE_TIP = 4;
export const FOREHEAD = 151;

export const EYE_CONTOURS = {
  left: [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246],
  right: [362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398],
};
export const EYE_CORNERS = { left: [33, 133], right: [362, 263] };
export const EYE_LID_MIDPOINTS = { left: [159, 145], right: [386, 374] };
export const IRIS = { left: [468, [469, 470, 471, 472]], right: [473, [474, 475, 476, 477]] };
export const EYE_BLENDSHAPE_PREFIXES = ["eyeBlink", "eyeSquint", "eyeWide"];
export const PERIOCULAR_BLENDSHAPE_PREFIXES = ["browDown", "browOuterUp", "cheekSquint"];
export const PERIOCULAR_BLENDSHAPES_BOTH_SIDES = ["browInnerUp"];
export const SUBJECT_SIDE = { left: "right", right: "left" };
