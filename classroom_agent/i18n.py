"""The projector's words, in the language chosen at enrol (zh-CN by default, or English)."""

from __future__ import annotations

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "lecturer": "讲师：{name}",
        "on_stage": "本班上台中",
        "muted": "已静音",
        "hand": "已举手",
        "reconnecting": "正在重新连接…",
        "audio_only": "网络差：仅声音",
        "quality_good": "网络良好",
        "quality_fair": "网络一般",
        "quality_poor": "网络较差",
        "quality_unknown": "网络未知",
        "keys": (
            "H 举手 · M 静音 · F 全屏 · Q 离开 · F1 听不清 · F2 看不清 · F3 请放慢 · "
            "F4 已完成 · F5 求助"
        ),
        "no_camera": "无摄像头",
        "no_microphone": "无麦克风",
        "no_speaker": "无声音输出",
        "waiting_picture": "等待讲师画面…",
        "next_lesson": "下一节课",
        "no_lesson": "暂无课程安排",
        "at": "时间：{time}",
        "check": "设备自检",
        "camera": "摄像头",
        "microphone": "麦克风",
        "speaker": "扬声器",
        "network": "网络",
        "ok": "正常",
        "missing": "未连接",
        "off": "已关闭",
        "joining": "正在进入课堂…",
        "starting": "正在启动…",
        "ended": "本节课已结束",
        "hub_unreachable": "无法连接服务器",
        "banner_ok": "按回车键表示已读",
        "banner_more": "还有 {n} 条消息",
        "stage_you": "本班正在台上：所有教室都能看到、听到本班",
        "stage_other": "正在台上：{name}",
        "stage_off": "现在没有教室在台上",
        "hand_lowered": "讲师放下了本班的手",
        "muted_by_lecturer": "讲师关闭了本班的麦克风",
        "unmuted_by_lecturer": "讲师重新打开了本班的麦克风",
        "chat_from": "{name}：{text}",
        "question_title": "第 {n} 题",
        "question_number_keys": "输入本班的答案，按回车提交：{typed}",
        "question_answered": "本班已作答：{answer}",
        "question_correct": "正确答案：{answer}",
        "question_true": "对",
        "question_choice_keys": "按 1–{n} 提交全班的答案 · 按 C 输入每个选项的人数",
        "question_count_keys": "输入人数 · Tab/方向键 换选项 · 回车 提交 · C 返回",
        "question_seconds_left": "剩余 {n} 秒",
        "question_time_up": "时间到，本题已结束",
        "question_false": "错",
    },
    "en": {
        "lecturer": "Lecturer: {name}",
        "on_stage": "We are on stage",
        "muted": "Muted",
        "hand": "Hand raised",
        "reconnecting": "Reconnecting…",
        "audio_only": "Poor network: audio only",
        "quality_good": "Network good",
        "quality_fair": "Network fair",
        "quality_poor": "Network poor",
        "quality_unknown": "Network unknown",
        "keys": (
            "H hand · M mute · F full screen · Q leave · F1 can't hear · F2 can't see · "
            "F3 slower · F4 done · F5 help"
        ),
        "no_camera": "No camera",
        "no_microphone": "No microphone",
        "no_speaker": "No sound output",
        "waiting_picture": "Waiting for the lecturer's picture…",
        "next_lesson": "Next lesson",
        "no_lesson": "No lesson scheduled",
        "at": "At {time}",
        "check": "Self-check",
        "camera": "Camera",
        "microphone": "Microphone",
        "speaker": "Speakers",
        "network": "Network",
        "ok": "OK",
        "missing": "Not working",
        "off": "Off",
        "joining": "Joining the lesson…",
        "starting": "Starting…",
        "ended": "The lesson has ended",
        "hub_unreachable": "Cannot reach the server",
        "banner_ok": "Press Enter when read",
        "banner_more": "{n} more messages",
        "stage_you": "We are on stage: every classroom sees and hears us",
        "stage_other": "On stage now: {name}",
        "stage_off": "Nobody is on stage any more",
        "hand_lowered": "The lecturer lowered our hand",
        "muted_by_lecturer": "The lecturer turned our microphone off",
        "unmuted_by_lecturer": "The lecturer turned our microphone back on",
        "chat_from": "{name}: {text}",
        "question_title": "Question {n}",
        "question_number_keys": "Type the room's answer, then Enter: {typed}",
        "question_answered": "Our answer: {answer}",
        "question_correct": "Correct answer: {answer}",
        "question_true": "True",
        "question_choice_keys": "1–{n}: the room's answer · C: how many chose each option",
        "question_count_keys": "Type how many · Tab/arrows: next option · Enter: send · C: back",
        "question_seconds_left": "{n} s left",
        "question_time_up": "Time is up: the question is closed",
        "question_false": "False",
    },
}


def normalize(language: str | None) -> str:
    """``zh``, ``zh_CN``, ``EN-us``… to one of LANGUAGES (unknown: the default)."""
    text = (language or "").replace("_", "-").lower()
    if text.startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


def translate(language: str, key: str, **values: object) -> str:
    table = STRINGS.get(language, STRINGS[DEFAULT_LANGUAGE])
    return table.get(key, STRINGS["en"].get(key, key)).format(**values)
