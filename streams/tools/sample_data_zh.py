"""Deterministic Chinese demo data: `python -m streams.tools.sample_data_zh` writes streams/tools/sample/zh/*.jsonl.

The same shape as the English sample (streams/tools/sample_data.py): ten categories of 30 items,
ads, and a few dozen shoppers who describe in their own words what they want, then search,
click and view pages. Served with the Chinese encoder: `COLDSTART_MODEL=bge-small-zh-v15` after
`coldstart model fetch bge-small-zh-v15` (`coldstart demo --lang zh` does both).
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from streams.tools.sample_data import SAMPLE_DIR, T0, Category, Event, _category, check, user_events

ZH_DIR = SAMPLE_DIR / "zh"
LOCALE = "zh-CN"

CATEGORIES: dict[str, Category] = {
    "跑步户外": _category(
        "疾风|峰行|北岭", "轻便|防水|透气|可收纳",
        "越野跑鞋|防雨外套|跑步背心|美利奴打底衫|登山杖|头灯|水袋背包|跑步短裤",
        "防撕裂尼龙|美利奴羊毛|再生涤纶|网眼布", "森林绿|黑色|橙色", "S|M|L|XL",
        (99, 1299), "适合越野、爬山和雨天跑步"),
    "厨房": _category(
        "铜叶|炉火|焙香", "珐琅|专业|加厚|经典",
        "铸铁煎锅|面包发酵篮|主厨刀|珐琅铸铁锅|厨师机|酸面包酵种套装|烘焙石板|面包割刀",
        "铸铁|不锈钢|藤编|陶瓷", "奶白|红色|石墨灰", "小号|中号|大号",
        (39, 2599), "适合在家烘焙和烧烤的人"),
    "居家办公": _category(
        "案牍|人体工学家|明光", "可升降|紧凑|人体工学|极简",
        "升降桌|人体工学椅|显示器支架|台灯|笔记本支架|理线槽|脚踏|笔记本套装",
        "橡木贴皮|铝合金|钢|竹", "白色|黑色|胡桃色", "120厘米|140厘米|160厘米",
        (59, 3999), "适合在家长时间专注工作"),
    "园艺": _category(
        "绿手指|花园小屋|青禾", "有机|耐候|传家|结实",
        "种植箱|修枝剪|番茄种子套装|浇水壶|堆肥桶|园艺跪垫|水管卷盘|香草种植盆",
        "镀锌钢|雪松木|再生塑料|陶土", "绿色|原木色|灰色", "小号|中号|大号",
        (19, 899), "适合菜园、香草和花境"),
    "工具五金": _category(
        "锐锻|铁甲|扭力王", "无线|18伏|精密|重型",
        "电钻|套筒扳手组|羊角锤|激光水平仪|墙体探测仪|工具箱|电圆锯|螺丝刀套装",
        "淬火钢|铬钒钢|玻璃纤维|ABS塑料", "黄色|红色|黑色", "小型|标准|专业",
        (29, 1599), "适合居家维修和周末木工"),
    "母婴": _category(
        "小橡果|暖暖蜂|小窝", "柔软|有机棉|可折叠|温和",
        "婴儿背带|襁褓包巾|奶瓶消毒器|旅行婴儿床|牙胶|婴儿监视器|妈咪包|宝宝餐椅",
        "有机棉|竹纤维纱布|食品级硅胶|榉木", "鼠尾草绿|燕麦色|天蓝", "新生儿|0-6个月|6-12个月",
        (39, 1999), "适合新手爸妈和成长中的宝宝"),
    "宠物用品": _category(
        "汪汪好|喵乐|爪迹", "护脊|耐咬|反光|可水洗",
        "狗窝|猫抓板|狗狗胸背带|自动喂食器|磨牙玩具|猫砂盆|牵引绳|宠物饮水机",
        "记忆棉|剑麻绳|尼龙织带|不锈钢", "炭灰|青色|棕褐", "S|M|L",
        (19, 899), "让猫狗和主人都开心"),
    "图书": _category(
        "书林出版社|港湾书局|墨香", "畅销|图解|获奖|新版",
        "酸面包烘焙书|越野跑指南|蔬菜种植手册|悬疑推理小说|幼儿绘本|家庭木工手册|科幻小说|训犬指南",
        "平装|精装", "", "口袋本|标准本",
        (29, 129), "献给爱读书的人"),
    "数码影音": _category(
        "声浪|伏特|回声", "无线|高保真|便携|防水",
        "降噪耳机|蓝牙音箱|真无线耳机|黑胶唱机|回音壁|充电宝|智能手表|电子书阅读器",
        "铝合金|磨砂塑料|织物网罩|胡桃木", "黑色|银色|藏青", "均码",
        (99, 2999), "适合通勤听音乐、播客和随身数码"),
    "美妆护肤": _category(
        "光韵|植萃|纯净", "无香|纯素|保湿|温和",
        "面霜|维C精华|洗发皂|防晒霜SPF50|润唇膏|吹风机|身体乳|卸妆膏",
        "乳木果油|芦荟|荷荷巴油|玻尿酸", "", "30毫升|50毫升|100毫升",
        (29, 699), "适合简单的日常护肤"),
}

# a new shopper's own words and the categories they are about
USERS: list[tuple[str, list[str]]] = [
    ("我在准备半程马拉松，想要轻便的跑鞋和防雨外套", ["跑步户外"]),
    ("周末喜欢在家烤面包，想买一口好的铸铁锅", ["厨房", "图书"]),
    ("在家办公，开会久了腰疼，想换把好椅子", ["居家办公"]),
    ("在阳台种番茄和香草", ["园艺"]),
    ("春天宝宝就要出生了，第一次当爸妈", ["母婴"]),
    ("家里刚来了一只小狗，需要狗窝和玩具", ["宠物用品"]),
    ("自己装书架，顺便修修老房子", ["工具五金"]),
    ("通勤路上听播客，最好能降噪", ["数码影音"]),
    ("敏感肌，想要简单无香的护肤品", ["美妆护肤"]),
    ("喜欢看推理小说和科幻小说", ["图书"]),
    ("练马拉松，也常去山里徒步", ["跑步户外", "数码影音"]),
    ("酸面包、铸铁锅和慢悠悠的周末做饭", ["厨房"]),
    ("两只猫什么都抓", ["宠物用品"]),
    ("房子小，需要一张紧凑的书桌", ["居家办公", "数码影音"]),
    ("有个小菜园，想自己堆肥", ["园艺", "图书"]),
    ("周末做木工活", ["工具五金", "图书"]),
    ("给刚出生的小侄女挑礼物", ["母婴", "图书"]),
    ("爱听黑胶唱片，想配一对好音箱", ["数码影音"]),
    ("早上跑步，再做一顿健康早餐", ["跑步户外", "厨房"]),
    ("下雨天也要出门越野跑", ["跑步户外"]),
    ("想给孩子读睡前绘本", ["图书", "母婴"]),
    ("冬天皮肤干，需要保湿的面霜", ["美妆护肤"]),
    ("买一套趁手的螺丝刀和电钻", ["工具五金"]),
    ("狗狗晚上散步需要反光的牵引绳", ["宠物用品"]),
    ("刚学烘焙，想要一本入门的书", ["图书", "厨房"]),
    ("显示器太低，脖子酸", ["居家办公"]),
    ("想在院子里做一个种植箱", ["园艺", "工具五金"]),
    ("出差多，需要大容量充电宝和耳机", ["数码影音"]),
    ("夏天去海边，要防晒", ["美妆护肤"]),
    ("第一次带宝宝出远门", ["母婴"]),
    ("", []),  # says nothing: the popularity fallback
]


def items(rng: random.Random) -> list[Event]:
    """30 items per category: brand, adjective and noun composed, with attributes."""
    out: list[Event] = []
    for name, cat in CATEGORIES.items():
        for adj, noun in rng.sample([(a, n) for a in cat.adjectives for n in cat.nouns], 30):
            brand, material = rng.choice(cat.brands), rng.choice(cat.materials)
            attrs: dict[str, Any] = {"material": material, "size": rng.choice(cat.sizes)}
            if cat.colours:
                attrs["colour"] = rng.choice(cat.colours)
            out.append({
                "item_id": f"zh-{len(out) + 1:04d}", "title": f"{brand}{adj}{noun}",
                "description": f"{brand}出品的{adj}{noun}，{material}材质，{cat.purpose}。",
                "brand": brand, "category": name, "price": round(rng.uniform(*cat.price), 2),
                "attributes": attrs, "ts": T0 + len(out) * 10})
    return out


def ads(rng: random.Random, catalog: list[Event]) -> list[Event]:
    """20 ads on items and 10 text-only ads, with varied bids; two are inactive."""
    out: list[Event] = [{"item_id": item["item_id"], "text": f"{item['title']}，现价{item['price']:.2f}元"}
                        for item in rng.sample(catalog, 20)]
    for name, cat in CATEGORIES.items():
        out.append({"text": f"{rng.choice(cat.brands)}{name}特卖：{rng.choice(cat.adjectives)}{rng.choice(cat.nouns)}"})
    for n, ad in enumerate(out):
        ad.update(ad_id=f"zh-ad-{n + 1:03d}", bid=round(rng.uniform(0.1, 2.5), 2), ts=T0 + 10_000 + n * 10)
    for ad in rng.sample(out, 2):
        ad["active"] = False
    return [{"ad_id": ad.pop("ad_id"), **ad} for ad in out]


def generate(seed: int = 11) -> dict[str, list[Event]]:
    """Every Chinese sample file's events, the same for the same seed."""
    rng = random.Random(seed)
    catalog = items(rng)
    events = user_events(rng, catalog, USERS, CATEGORIES, LOCALE, join="")
    for topic in events.values():  # ids apart from the English sample's, so both can share topics
        for event in topic:
            event["event_id"] = f"zh-{event['event_id']}"
            event["user_id"] = f"zh-{event['user_id']}"
    return {"catalog": catalog, "ads": ads(rng, catalog), **events}


def write(out: Path = ZH_DIR) -> dict[str, int]:
    """Generate, check and write the Chinese sample files; return the events per file."""
    data = generate()
    check(data)
    out.mkdir(parents=True, exist_ok=True)
    for topic, events in data.items():
        lines = (json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in events)
        (out / f"{topic}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {topic: len(events) for topic, events in data.items()}


if __name__ == "__main__":
    for topic, count in write().items():
        print(f"{topic}: {count} events")
