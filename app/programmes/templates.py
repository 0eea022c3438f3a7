"""Programme templates: the programmes of the notices in ``seeds/`` as data, made into draft programmes.

``TEMPLATES`` holds one dict per programme; ``instantiate(key, year)`` builds a draft ``Programme`` from one, and
``copy_to_next_year`` starts next year's round from an existing programme. Dates are month/day in the programme's
year; money is whole yuan in the templates and integer fen (×100) in the database, never a float.

Every number below comes from its notice unless a comment says it was chosen because the notice is silent.
Functions flush and never commit.
"""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.programmes.models import (
    FundingSource,
    FundingTier,
    FundingTierAmount,
    Milestone,
    MilestoneKind,
    NominationRule,
    Programme,
    ProgrammeKind,
    ProgrammeStatus,
    ProjectType,
    Submitter,
)

# The funding sources every installation starts with, in their display order.
FUNDING_SOURCES = ["泉州市级财政", "晋江市级财政", "镇(街道)配套", "社会资金", "慈善捐赠", "社区基金"]
# Money a township raises itself and records for its own sites.
LOCAL_SOURCES = {"镇(街道)配套", "社会资金", "慈善捐赠", "社区基金"}
# A source that is not in FUNDING_SOURCES sorts after them (the same order the programme forms give new sources).
OTHER_SOURCE_SORT_ORDER = 100

QUANZHOU = "泉州市级财政"
JINJIANG = "晋江市级财政"

M = MilestoneKind
S = Submitter

# --- A. 2024 晋邻和美·微协商微议事 demonstration sites (seeds/000_*) -----------------------------------------

_DEMONSTRATION_DESCRIPTION = """\
申报要求：各镇(街道)选取1—2个协商工作基础好、村(居)民自治意识强的村(社区)申报；市民政局会同市财政局根据\
工作推进情况最终确定10个市级“晋邻和美·微协商微议事”示范点，并择优推荐申报泉州市“刺桐厝边·微协商微议事”试点。

申报条件一，明确三类主体：
① 召集人：村(社区)党组织、村(居)民委员会通过村(居)民推荐与组织推荐相结合，按网格、住宅小区(街巷)、楼栋三级\
协商单元各推选热心公益、办事公道、德高望重、有议事协调能力的单元协商召集人，定期收集群众诉求并报村(居)民委员会\
备案、分理；优先推荐专职工作者、村(居)民小组长、党员骨干、网格长、街巷长、楼长、业委会主任、物业负责人等。
② 参与者：议题涉及的所有利益相关方或其代表；专业性、技术性较强的议题邀请专业技术人员(机构)；鼓励弱势群体和\
边缘人群参与，确保参与协商机会均等。
③ 智囊团：社区意见领袖、基层群团组织负责人、港澳台同胞、乡贤能人、专家学者等组成“协商智囊团”，按议题邀请参加。

申报条件二，明确规则：
① 阵地建设：整合现有阵地，设置民主议事厅(室)、议事角、议事长廊；显著位置悬挂有“中国社区”标识和村(社区)名称的\
“民情收集箱”；村(社区)微信公众号开设群众反映诉求专栏。
② 形式载体：按“大事大议、小事小议、急事立议”，灵活采取小区、业主、物业、楼栋协商会等方式，线上线下相结合。
③ 程序规范：汇集民意、确定议题(确定协商议题、主体、形式、时间地点并发布公告)；开展协商、达成意见(一致意见由\
协商主体签名确认，不能达成一致的提交村(居)民委员会，由村(居)民会议或村(居)民代表会议研究决定)；监督落实、\
固化成果(跟进落实、反馈并报村(居)民委员会备案，长期适用的成果纳入村规民约(居民公约)、业主公约等)。

实施步骤：
① 项目申报：镇(街道)审核把关后于5月31日前将推荐表(一式两份)报市民政局基层政权建设和社区治理科；市民政局会同\
市财政局根据实地走访和村(居)民自治情况综合评定。
② 组织实施：协商议事章程经村(居)民会议表决通过、镇(街道)审批，于6月12日前报市民政局备案，并录入全国基层政权\
建设和社区治理信息系统“自治章程”；做好档案管理，建立台账记录，市民政局适时抽查。
③ 总结评估：镇(街道)汇总村级总结、典型案例，于8月30日前报市民政局；市民政局评估确定10个市级示范点。

资金保障：泉州“刺桐厝边”试点由泉州市级财政补助5万元、晋江市级财政配套3万元；晋江市级示范点由晋江市级财政补助\
3万元；镇(街道)提供必要经费保障；受村(居)民委员会委托组织或参与议事协商的人员可酌情给予补贴；协商议事的过程、\
结果、落实情况全公开。"""

DEMONSTRATION = {
    "key": "demonstration",
    "title": "“晋邻和美·微协商微议事”示范点（晋江，按镇街推荐1—2个）",
    "source": "晋江市民政局 晋江市财政局《关于做好2024年“晋邻和美·微协商微议事”示范点申报工作的通知》"
    "（晋政民〔2024〕36号，2024年5月28日）",
    "name": "{year}年晋江市“晋邻和美·微协商微议事”示范点",
    "code": "SFD",
    "kind": ProgrammeKind.DEMONSTRATION,
    "quota": 10,
    "description": _DEMONSTRATION_DESCRIPTION,
    "notice_reference": "晋政民〔2024〕36号",
    "nomination_rule": NominationRule.FIXED,
    "nomination_min": 1,
    "nomination_max": 2,
    # Not used by the fixed rule; the model's defaults.
    "size_threshold": 15,
    "min_small": 1,
    "min_large": 2,
    "project_types": [],
    # The notice asks for no monthly report, so there is none.
    "milestones": [
        {
            "name": "示范点推荐表报送",
            "kind": M.NOMINATION,
            "month": 5,
            "day": 31,
            "submitter": S.TOWNSHIP,
            "documents": "《晋江市“晋邻和美·微协商微议事”示范点推荐表》一式两份，由镇(街道)审核把关后报送"
            "市民政局基层政权建设和社区治理科。",
        },
        {
            "name": "协商议事章程备案",
            "kind": M.CHARTER,
            "month": 6,
            "day": 12,
            # "申报单位制定协商议事章程 … 经镇(街道)审批后 … 报市民政局备案": the applicant files it, once the
            # township has approved it.
            "submitter": S.COMMUNITY,
            "documents": "协商议事章程：由村(居)民会议表决通过，经镇(街道)审批后报市民政局备案，并录入全国基层政权"
            "建设和社区治理信息系统“自治章程”。申报单位同时做好档案管理、建立台账记录，市民政局适时抽查。",
        },
        {
            "name": "总结与典型案例报送",
            "kind": M.SUMMARY,
            "month": 8,
            "day": 30,
            "submitter": S.TOWNSHIP,
            "documents": "申报单位对“微协商微议事”开展情况的全面总结；镇(街道)汇总村级总结、典型案例后报送市民政局。",
        },
    ],
    "tiers": [
        {
            "name": "泉州市级“刺桐厝边”试点",
            "amounts": [{"source": QUANZHOU, "yuan": 50_000}, {"source": JINJIANG, "yuan": 30_000}],
        },
        {"name": "晋江市级示范点", "amounts": [{"source": JINJIANG, "yuan": 30_000}]},
    ],
}

# --- B. 2023 共建共享 community-governance projects (seeds/003_*) --------------------------------------------

_GOVERNANCE_DESCRIPTION = """\
工作目标：以近邻党建为引领，结合“党建+”邻里中心建设，在全市选取12个基础条件好、班子凝聚力强、群众积极性高、工作\
成效显著、示范作用明显的城乡社区开展“共建共享”社区治理项目，形成一批社区治理创新成果。项目分党建引领型、邻里\
互助型、协商自治型、服务促进型、社会参与型五类。

申报要求：项目突出精细化和建设可行性，目标计划具体明确；镇(街道)审核把关建设方案、跟踪督促实施，防止项目无法如期\
推进或中途更换项目。进度缓慢的予以通报；成效显著的镇(街道)下一年度申报名额倾斜，建设不力的消减名额。

实施步骤：
① 项目申报：充分征求村(居)民意见后提出项目方案，填写申报表；镇(街道)把关并加盖公章，于3月17日前将申报表和项目\
方案书通过电子政务平台报送市民政局。
② 项目确定：市民政局综合考虑基础设施建设、党建工作、服务能力、群众参与等情况确定试点项目，并择优推荐为泉州市\
“共建共享”社区治理项目。
③ 项目实施：按方案推进，建立健全项目档案(会议记录纪要、方案及图文资料、指导督导佐证、居民自治和社会参与佐证、\
资金使用明细表、公开和宣传佐证、中期及结项自评报告、社区工作法)；除不可抗力外于11月30日前完成。
④ 项目验收：项目中期市民政局结合城乡社区调研实地走访；结项后试点村(社区)于12月20日前报送项目工作总结；市民政局\
组织评估组末期评估。

信息报告：各镇(街道)每月20日前向市民政局报送试点工作进展情况。

资金保障：确定为本级“共建共享”项目的，市级财政每个补助10万元；确定为泉州市“共建共享”项目的，市级财政每个给予\
5万元配套补助；镇(街道)给予适当资金补助；鼓励通过驻区单位、慈善捐赠、社区基金会等引导社会资金投入；资金使用情况\
通过村(居)务公开平台向居民公布。"""

_ARCHIVE = (
    "项目档案：①村(居)民会议、代表会议等相关会议记录、纪要；②项目申报方案、项目实施的图文资料；③县(市、区)民政部门"
    "和乡镇(街道)开展工作指导督导的佐证材料；④社区推动居民自治和社会力量参与的佐证材料；⑤项目资金使用明细表；"
    "⑥项目申报和实施过程中加强村(居)务公开及媒体宣传报道的佐证材料；⑦项目中期自评报告和结项自评报告；⑧总结提炼"
    "社区治理工作经验形成的社区工作法。及时收集视频、音频、照片素材，完整、准确、真实地记录实施过程和资金使用情况。"
)

GOVERNANCE_PROJECT = {
    "key": "governance_project",
    "title": "“共建共享”社区治理项目（晋江，五类项目）",
    "source": "晋江市民政局 晋江市财政局《关于做好2023年晋江市“共建共享”社区治理项目申报工作的通知》（2023年3月10日）",
    "name": "{year}年晋江市“共建共享”社区治理项目",
    "code": "GJGX",
    "kind": ProgrammeKind.PROJECT,
    "quota": 12,
    "description": _GOVERNANCE_DESCRIPTION,
    # The text of the notice in seeds/003_* carries no 文号.
    "notice_reference": "",
    "nomination_rule": NominationRule.FIXED,
    # Chosen: the notice gives no number per township. 1–2, as the 2024 demonstration-site notice of the same bureau.
    "nomination_min": 1,
    "nomination_max": 2,
    "size_threshold": 15,
    "min_small": 1,
    "min_large": 2,
    "project_types": [
        {
            "name": "党建引领型",
            "description": "全面推进近邻党建，健全“村(社区)党组织—网格(小区、园区、自然村)党支部—楼栋(住户)"
            "党小组—党员联系户”穿透式组织体系；深化在职党员到社区报到；落实居民需求、社区资源、服务项目“三张清单”，"
            "实现“群众点单、社区派单、党员接单”；健全党建引领下居委会、业委会、物业服务企业协调运行机制，做到决策共谋、"
            "发展共建、建设共管、效果共评、成果共享。",
        },
        {
            "name": "邻里互助型",
            "description": "依托社区党群服务中心、小区物业服务中心建设“邻里驿站”，推行村(居)民代表、网格员、党员"
            "街巷长、党员楼栋长坐班值守，做好“收集小意见、办好小事情、协商小问题、提好小建议、开展小活动、搞好小服务”；"
            "开展“邻里守望”等主题志愿服务，组建专常兼备、平战结合的应急志愿服务队。",
        },
        {
            "name": "协商自治型",
            "description": "构建社区、网格、小区(街巷)、楼栋四级议事协商体系；开展“微协商微议事”，规范居民议事厅"
            "(室)建设，实现“六具备”（热线电话、意见箱、值班表、流程图、记录本、公开栏）；及时修订完善村规民约"
            "(居民公约)，提高知晓率和执行率。",
        },
        {
            "name": "服务促进型",
            "description": "发挥村(居)民议事会、业主协商会等平台作用，做好民情收集、需求评估；提升“老有所养、幼有"
            "所育、病有所医、食有所安、居有所乐、事有所办”6项服务功能；构建“全员全科、综合服务、一窗受理”工作机制；"
            "推动服务设施智慧化改造，提供线上便民服务。",
        },
        {
            "name": "社会参与型",
            "description": "推进社区与社会组织、社会工作者、社区志愿者、社会慈善资源“五社联动”；支持发展社区社会"
            "组织，推进居委会下设环境和物业管理委员会；吸引驻社区机关企事业单位、社会力量和市场主体参与社区治理。",
        },
    ],
    "milestones": [
        {
            "name": "申报表和项目方案书报送",
            "kind": M.NOMINATION,
            "month": 3,
            "day": 17,
            "submitter": S.TOWNSHIP,
            "documents": "《“共建共享”社区治理项目申报表》和《项目方案书》（在充分征求村(居)民意见建议的基础上"
            "提出）；镇(街道)对项目把关并加盖公章，通过电子政务平台报送市民政局。",
        },
        {
            # Recurs: every month before the 20th (信息报告制度). The model holds one date per milestone, so this
            # is the first report — chosen as 5/20, the month after selection (the notice fixes no selection date).
            "name": "月度进展报送（每月20日前）",
            "kind": M.MONTHLY_REPORT,
            "month": 5,
            "day": 20,
            "submitter": S.TOWNSHIP,
            "documents": "镇(街道)于每月20日前向市民政局报送试点工作进展情况（每月一次，此为首次）。",
        },
        {
            # Chosen: the notice says only "项目中期" between selection and completion on 11/30; 7/31 is about
            # half-way from an April selection.
            "name": "中期走访与中期自评",
            "kind": M.MIDTERM,
            "month": 7,
            "day": 31,
            "submitter": S.COMMUNITY,
            "documents": "项目中期自评报告；市民政局结合城乡社区调研工作组织实地走访，了解项目开展情况并提出意见建议。",
        },
        {
            "name": "项目完成",
            "kind": M.COMPLETION,
            "month": 11,
            "day": 30,
            "submitter": S.COMMUNITY,
            "documents": "除不可抗力因素外，所有项目均应完成。" + _ARCHIVE,
        },
        {
            "name": "项目工作总结报送",
            "kind": M.FINAL_SUMMARY,
            "month": 12,
            "day": 20,
            "submitter": S.COMMUNITY,
            "documents": "项目工作总结（认真总结经验做法、查找不足）报送市民政局；结项自评报告和提炼的社区工作法"
            "（项目档案⑦⑧）。市民政局随后组织评估组进行末期评估。",
        },
    ],
    # "市级财政" in this notice of the Jinjiang bureau is Jinjiang's. For a Quanzhou-level project it gives 5万元
    # matching; the notice does not say what Quanzhou itself pays, so only the matching amount is here.
    "tiers": [
        {"name": "泉州市级“共建共享”项目", "amounts": [{"source": JINJIANG, "yuan": 50_000}]},
        {"name": "晋江市级项目", "amounts": [{"source": JINJIANG, "yuan": 100_000}]},
    ],
}

# --- C. Other cities: pilots by township size (seeds/004_* Linping; 001_* Jinhua and 002_* Changji for rules) ---

_PILOT_DESCRIPTION = """\
参照杭州市临平区《关于推进城乡社区“微自治”助推基层民主协商的实施方案》（征求意见稿），议事协商规则参考金华市\
（金市民〔2023〕43号）和昌吉州（昌州民字〔2021〕85号）的规定。

试点名额：辖15个以下村(社区)的镇(街道)至少选择1个试点，辖15个以上的至少选择2个。各试点根据“双推”内容自主选择\
1个或多个协商议事主题，建立网格、小区(小组)、楼道(楼宇)等微自治组织，开展“公益微创投”“民生微实事提案”“微公益\
大赛”等微自治项目。

实施步骤：
① 启动阶段：镇(街道)制定工作计划，择优确立试点社区。
② 推进阶段：区、镇(街道)开展培训指导，规范村(居)民代表会议制度(至少每季度召开一次；三分之二以上代表参加；决定经\
全体代表过半数通过；签到表、会议记录表、表决签名表分别存档)；年底前完成微自治组织建设；微自治项目按征集、遴选、\
确定、实施、评估的流程规范实施。
③ 完善阶段：复制推广试点经验和优秀典型。
④ 总结阶段：开展自查、梳理问题、总结经验并完成调研报告，提炼社区治理工作法。

评估：镇(街道)每年采取居民评议、专家评议、第三方评估等方式对试点项目评估，形成自查报告；每年评选“示范社区”\
“优秀项目”“社区工作法”。

协商规则：议事协商场所面积不少于30平方米；经实到会人员三分之二以上表决通过视为达成一致意见；落实“六必议”“五不议”。

资金：每个微自治试点财政补助3万元，主要用于微自治组织建立和微自治项目开展；镇(街道)可以相应配套资金。"""

PILOT_BY_SIZE = {
    "key": "pilot_by_size",
    "title": "议事协商试点（按镇街村(社区)数量确定名额，金华、昌吉、临平等地做法）",
    "source": "杭州市临平区《关于推进城乡社区“微自治”助推基层民主协商的实施方案》（征求意见稿，2022年3月4日）；"
    "金华市《关于坚持和践行“后陈经验”推进城乡社区议事协商工作的指导意见》（金市民〔2023〕43号）；"
    "昌吉州《关于进一步做好昌吉州城乡社区协商工作的通知》（昌州民字〔2021〕85号）",
    "name": "{year}年城乡社区议事协商试点",
    "code": "SD",
    # Pilot sites chosen per township, as the demonstration sites; the notices set no project types.
    "kind": ProgrammeKind.DEMONSTRATION,
    # Chosen: the notices fix only a minimum per township. 32 is that minimum summed over Jinjiang's 19 townships
    # (data/townships.csv: 6 with fewer than 15 communities × 1 + 13 with 15 or more × 2).
    "quota": 32,
    "description": _PILOT_DESCRIPTION,
    # The Linping plan is a draft for comment without a 文号.
    "notice_reference": "",
    "nomination_rule": NominationRule.BY_SIZE,
    # Not used by the size rule; nomination_max None: "至少", no upper limit.
    "nomination_min": 1,
    "nomination_max": None,
    # "辖15个以下 … 至少1个，辖15个以上 … 至少2个"; 以上 includes 15 as in Chinese legal usage.
    "size_threshold": 15,
    "min_small": 1,
    "min_large": 2,
    "project_types": [],
    "milestones": [
        {
            # Chosen: the plan names the step (启动阶段: 制定计划、确立试点) but no date; 4/30 follows its
            # comment period (3/4–3/14).
            "name": "工作计划与试点名单报送",
            "kind": M.NOMINATION,
            "month": 4,
            "day": 30,
            "submitter": S.TOWNSHIP,
            "documents": "镇(街道)推进城乡社区“微自治”助推民主协商的具体工作计划；试点村(社区)名单（辖15个以下"
            "村(社区)的至少1个，15个以上的至少2个）；各试点选定的协商议事主题，以及建立微自治组织和开展“公益微创投”"
            "“民生微实事提案”“微公益大赛”等微自治项目的方案。",
        },
        {
            # "于年底前完成建设".
            "name": "微自治组织建设完成",
            "kind": M.COMPLETION,
            "month": 12,
            "day": 31,
            "submitter": S.TOWNSHIP,
            "documents": "试点村(社区)网格、小区、小组、楼道、楼宇协商议事微自治组织建成，形成本镇(街道)示范亮点；"
            "村(居)民代表会议签到表、会议记录表、表决签名表（分别立卷存档，不可互为代替）；协商记录表。",
        },
        {
            # Chosen: the yearly evaluation and the summary have no date in the notices; the end of the year, with
            # the completion of the micro-self-governance organisations.
            "name": "评估自查报告与总结",
            "kind": M.SUMMARY,
            "month": 12,
            "day": 31,
            "submitter": S.TOWNSHIP,
            "documents": "镇(街道)采取居民评议、专家评议、第三方评估等方式对试点项目评估形成的自查报告；总结经验的"
            "调研报告；特色亮点、优秀案例和提炼的社区治理工作法。",
        },
    ],
    # "每个微自治试点区财政补助3万元": the district's (区级) budget pays; a township may add matching funds of an
    # amount the plan leaves open, so none is in the tier.
    "tiers": [{"name": "微自治试点", "amounts": [{"source": "区级财政", "yuan": 30_000}]}],
}

# Default scoring sheets (100 base points each), drawn from what the notices ask the sites to show. The bureau
# edits them before the first score. Rows: (group, criterion, max points, "base"/"bonus", how to judge).
SITE_CRITERIA = [
    ("组织领导", "党组织领导作用发挥，两委重视、专人负责", 8, "base", "查阅会议记录，走访了解"),
    ("组织领导", "网格、小区(街巷)、楼栋三级召集人推选并报村(居)委会备案", 7, "base", "三级齐全 7 分，缺一级扣 3 分"),
    ("阵地建设", "议事厅(室)、议事角、议事长廊等协商场所", 8, "base", "面积不少于 30 平方米、标识规范"),
    ("阵地建设", "显著位置悬挂带“中国社区”标识的民情收集箱", 6, "base", "实地查看"),
    ("阵地建设", "村(社区)微信公众号开设群众诉求专栏", 6, "base", "查看专栏及近三个月回复"),
    ("制度建设", "协商议事章程经村(居)民会议表决、镇(街道)审批并备案录入", 10, "base", "程序完整 10 分"),
    ("制度建设", "组建协商智囊团", 5, "base", "查看名单及参与记录"),
    ("制度建设", "档案管理与台账记录", 5, "base", "协商记录表齐全规范"),
    ("协商实践", "按“汇集民意—协商—落实反馈”三步程序开展协商", 15, "base", "抽查协商记录"),
    ("协商实践", "形式多样，线上线下结合", 8, "base", "小区、业主、物业、楼栋协商会等"),
    ("协商实践", "参与主体广泛，弱势群体有机会参与", 7, "base", "查看签到与参与者构成"),
    ("成效特色", "协商成果落实并公开，群众满意", 8, "base", "走访群众"),
    ("成效特色", "品牌特色鲜明，经验宣传推广", 7, "base", "媒体报道、经验材料"),
    ("加分项", "经验做法被上级推广或被评为上级试点", 5, "bonus", "提供文件或报道"),
]
SITE_VETOES = ["申报材料弄虚作假", "发生重大安全事故或群体性事件", "协商议事事项违反“五不议”规定"]
PROJECT_CRITERIA = [
    ("基础设施", "党群服务中心、邻里驿站等场地设施", 15, "base", "实地查看"),
    ("基础设施", "信息化手段提供线上服务", 10, "base", "公众号、微信群等"),
    ("党建工作", "近邻党建组织体系健全", 15, "base", "村(社区)党组织—网格党支部—楼栋党小组—党员联系户"),
    ("党建工作", "在职党员报到与“三张清单”落实", 10, "base", "查看清单与记录"),
    ("服务能力", "服务项目精准对接居民需求", 15, "base", "需求评估与项目对应"),
    ("服务能力", "志愿服务与社会组织参与", 10, "base", "“五社联动”情况"),
    ("群众参与", "议事协商机制健全", 15, "base", "四级议事协商体系、六具备"),
    ("群众参与", "居民参与度与满意度", 10, "base", "走访群众"),
    ("加分项", "项目方案创新、可复制推广", 5, "bonus", "形成社区工作法的潜力"),
]
PROJECT_VETOES = ["申报材料弄虚作假", "项目方案与申报类型不符或无法如期推进", "以往项目资金使用违规"]
DEMONSTRATION["criteria"], DEMONSTRATION["vetoes"] = SITE_CRITERIA, SITE_VETOES
PILOT_BY_SIZE["criteria"], PILOT_BY_SIZE["vetoes"] = SITE_CRITERIA, SITE_VETOES
GOVERNANCE_PROJECT["criteria"], GOVERNANCE_PROJECT["vetoes"] = PROJECT_CRITERIA, PROJECT_VETOES

TEMPLATES: list[dict] = [DEMONSTRATION, GOVERNANCE_PROJECT, PILOT_BY_SIZE]

_PROGRAMME_FIELDS = (
    "code",
    "kind",
    "quota",
    "description",
    "notice_reference",
    "nomination_rule",
    "nomination_min",
    "nomination_max",
    "size_threshold",
    "min_small",
    "min_large",
)


def template_choices() -> list[tuple[str, str]]:
    return [(template["key"], template["title"]) for template in TEMPLATES]


def get_template(key: str) -> dict:
    """The template with that key; KeyError if there is none."""
    for template in TEMPLATES:
        if template["key"] == key:
            return template
    raise KeyError(key)


# --- funding sources ---------------------------------------------------------------------------------------


def _sort_order(name: str) -> int:
    return (FUNDING_SOURCES.index(name) + 1) * 10 if name in FUNDING_SOURCES else OTHER_SOURCE_SORT_ORDER


def funding_source(name: str) -> FundingSource:
    """The funding source of that name, created (and flushed) if it does not exist yet."""
    source = db.session.scalar(sa.select(FundingSource).where(FundingSource.name == name))
    if source is None:
        source = FundingSource(name=name, sort_order=_sort_order(name), local=name in LOCAL_SOURCES)
        db.session.add(source)
        db.session.flush()
    return source


def ensure_funding_sources() -> list[FundingSource]:
    """Creates the sources of FUNDING_SOURCES that are missing; returns all of them in that order."""
    return [funding_source(name) for name in FUNDING_SOURCES]


# --- making programmes -------------------------------------------------------------------------------------


def _taken_message(year: int, code: str) -> str:
    return _("%(year)d 年已有代码为 %(code)s 的项目。", year=year, code=code)


def _check_free(year: int, code: str) -> None:
    taken = db.session.scalar(sa.select(Programme.id).where(Programme.year == year, Programme.code == code).limit(1))
    if taken is not None:
        raise ValueError(_taken_message(year, code))


def _add(programme: Programme) -> Programme:
    if programme.nomination_max is None:
        # No upper limit. A plain None on a column with a default makes the ORM insert the default (2).
        programme.nomination_max = sa.null()
    try:
        with db.session.begin_nested():
            db.session.add(programme)
            db.session.flush()
    except IntegrityError as error:
        # Someone else made the same year and code between the check and the flush; the savepoint's rollback
        # leaves the session as it was.
        raise ValueError(_taken_message(programme.year, programme.code)) from error
    return programme


def instantiate(key: str, year: int) -> Programme:
    """A new draft programme of ``year`` from the template ``key`` (KeyError if unknown; ValueError if the year
    already has a programme with the template's code)."""
    template = get_template(key)
    _check_free(year, template["code"])
    programme = Programme(
        name=template["name"].format(year=year),
        year=year,
        status=ProgrammeStatus.DRAFT,
        **{field: template[field] for field in _PROGRAMME_FIELDS},
    )
    programme.project_types = [
        ProjectType(name=item["name"], description=item["description"], sort_order=index)
        for index, item in enumerate(template["project_types"])
    ]
    programme.milestones = [
        Milestone(
            name=item["name"],
            kind=item["kind"],
            due_date=date(year, item["month"], item["day"]),
            submitter=item["submitter"],
            documents=item["documents"],
        )
        for item in template["milestones"]
    ]
    programme.tiers = [
        FundingTier(
            name=tier["name"],
            sort_order=index,
            amounts=[
                FundingTierAmount(source=funding_source(amount["source"]), amount_fen=amount["yuan"] * 100)
                for amount in tier["amounts"]
            ],
        )
        for index, tier in enumerate(template["tiers"])
    ]
    _add_sheet(programme, template["criteria"], template["vetoes"])
    return _add(programme)


def _add_sheet(programme: Programme, criteria, vetoes) -> None:
    from app.scoring.models import Criterion, CriterionKind, VetoCondition

    programme.criteria = [
        Criterion(group_name=group, name=name, max_points=points, kind=CriterionKind(kind), guidance=guidance,
                  sort_order=index)
        for index, (group, name, points, kind, guidance) in enumerate(criteria)
    ]
    programme.vetoes = [VetoCondition(text=text, sort_order=index) for index, text in enumerate(vetoes)]


def _one_year_later(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February into a common year
        return date(day.year + 1, 2, 28)


def _next_year_name(name: str, year: int) -> str:
    """The name with the year's digits (not part of a longer number) replaced by the next year's."""
    return re.sub(rf"(?<!\d){year}(?!\d)", str(year + 1), name)


def copy_to_next_year(programme: Programme) -> Programme:
    """Next year's draft of ``programme``: its rules, types, tiers and milestones, dates a year later.

    ValueError if next year already has a programme with that code. The original is not changed.
    """
    year = programme.year + 1
    _check_free(year, programme.code)
    copy = Programme(
        name=_next_year_name(programme.name, programme.year),
        year=year,
        status=ProgrammeStatus.DRAFT,
        copied_from_id=programme.id,
        **{field: getattr(programme, field) for field in _PROGRAMME_FIELDS},
    )
    # Next year's round comes with a notice of its own, so last year's 文号 is not carried over.
    copy.notice_reference = ""
    copy.project_types = [
        ProjectType(name=item.name, description=item.description, sort_order=item.sort_order)
        for item in programme.project_types
    ]
    copy.milestones = [
        Milestone(
            name=item.name,
            kind=item.kind,
            due_date=_one_year_later(item.due_date),
            submitter=item.submitter,
            documents=item.documents,
        )
        for item in programme.milestones
    ]
    copy.tiers = [
        FundingTier(
            name=tier.name,
            sort_order=tier.sort_order,
            amounts=[
                FundingTierAmount(source_id=amount.source_id, amount_fen=amount.amount_fen) for amount in tier.amounts
            ],
        )
        for tier in programme.tiers
    ]
    _add_sheet(copy, [(c.group_name, c.name, c.max_points, c.kind.value, c.guidance) for c in programme.criteria],
               [v.text for v in programme.vetoes])
    copy.use_trimmed_mean = programme.use_trimmed_mean
    copy.weight_bureau, copy.weight_finance = programme.weight_bureau, programme.weight_finance
    copy.weight_expert, copy.publicity_days = programme.weight_expert, programme.publicity_days
    return _add(copy)
