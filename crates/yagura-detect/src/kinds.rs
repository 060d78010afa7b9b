//! The alert catalogue: every kind of alert Yagura raises, with its engine, default severity,
//! titles and remediation advice in English and Japanese.
//!
//! The whole catalogue is the one `alert_kinds!` list below: adding a kind is adding one entry
//! there (and a row in `docs/detection.md`, which a test checks).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use yagura_core::OperationClass;

/// The language of a user-facing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Ja,
}

/// How urgent an alert is, in the four levels OT monitors use; ordered from the least
/// (`Warning`) to the most urgent (`Critical`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Minor,
    Major,
    Critical,
}

impl Severity {
    /// Every level, from the least to the most urgent.
    pub const ALL: [Severity; 4] = [
        Severity::Warning,
        Severity::Minor,
        Severity::Major,
        Severity::Critical,
    ];

    /// The stable snake_case id used in reports and the API.
    pub const fn id(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }

    /// The level's name as the console shows it (重大度 levels in Japanese).
    pub const fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Severity::Warning, Lang::En) => "Warning",
            (Severity::Minor, Lang::En) => "Minor",
            (Severity::Major, Lang::En) => "Major",
            (Severity::Critical, Lang::En) => "Critical",
            (Severity::Warning, Lang::Ja) => "注意",
            (Severity::Minor, Lang::Ja) => "警告",
            (Severity::Major, Lang::Ja) => "重要",
            (Severity::Critical, Lang::Ja) => "緊急",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The detection engine that raises a kind of alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// Operations that change a controller's state or logic (stop, download, firmware…).
    Operational,
    /// Departures from the learned baseline.
    Policy,
    /// Messages that break their protocol's rules.
    ProtocolViolation,
    /// Scans, spoofing and changes in traffic patterns.
    Anomaly,
    /// Matches against imported indicators of compromise.
    ThreatIntelligence,
}

impl Engine {
    /// Every engine.
    pub const ALL: [Engine; 5] = [
        Engine::Operational,
        Engine::Policy,
        Engine::ProtocolViolation,
        Engine::Anomaly,
        Engine::ThreatIntelligence,
    ];

    /// The stable snake_case id used in reports and the API.
    pub const fn id(self) -> &'static str {
        match self {
            Engine::Operational => "operational",
            Engine::Policy => "policy",
            Engine::ProtocolViolation => "protocol_violation",
            Engine::Anomaly => "anomaly",
            Engine::ThreatIntelligence => "threat_intelligence",
        }
    }

    /// The engine's name as the console shows it.
    pub const fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Engine::Operational, Lang::En) => "Operational",
            (Engine::Policy, Lang::En) => "Policy violation",
            (Engine::ProtocolViolation, Lang::En) => "Protocol violation",
            (Engine::Anomaly, Lang::En) => "Anomaly",
            (Engine::ThreatIntelligence, Lang::En) => "Threat intelligence",
            (Engine::Operational, Lang::Ja) => "運用",
            (Engine::Policy, Lang::Ja) => "ポリシー違反",
            (Engine::ProtocolViolation, Lang::Ja) => "プロトコル違反",
            (Engine::Anomaly, Lang::Ja) => "異常検知",
            (Engine::ThreatIntelligence, Lang::Ja) => "脅威インテリジェンス",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Defines [`AlertKind`] and its tables from one list, so that a kind's id, engine, severity,
/// titles and advice cannot be added in one place and forgotten in another.
macro_rules! alert_kinds {
    ($(
        $variant:ident {
            id: $id:literal,
            engine: $engine:ident,
            severity: $severity:ident,
            title: $title_en:literal,
            title_ja: $title_ja:literal,
            remediation: $rem_en:literal,
            remediation_ja: $rem_ja:literal $(,)?
        }
    ),+ $(,)?) => {
        /// A kind of alert (issue 5 §3); serialised as its [`id`](AlertKind::id).
        ///
        /// The declaration order (operational, policy, protocol violation, anomaly, threat
        /// intelligence) is the catalogue's order and the order `Ord` uses.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum AlertKind {
            $(
                #[doc = $title_en]
                $variant,
            )+
        }

        impl AlertKind {
            /// Every kind, in catalogue order.
            pub const ALL: &'static [AlertKind] = &[$(AlertKind::$variant),+];

            /// The stable snake_case id, as in issue 5 (`plc_stop`, `new_asset`, …).
            pub const fn id(self) -> &'static str {
                match self {
                    $(AlertKind::$variant => $id,)+
                }
            }

            /// The kind with this id, if any.
            pub fn from_id(id: &str) -> Option<AlertKind> {
                match id {
                    $($id => Some(AlertKind::$variant),)+
                    _ => None,
                }
            }

            /// The engine that raises this kind.
            pub const fn engine(self) -> Engine {
                match self {
                    $(AlertKind::$variant => Engine::$engine,)+
                }
            }

            /// The default severity of this kind.
            pub const fn severity(self) -> Severity {
                match self {
                    $(AlertKind::$variant => Severity::$severity,)+
                }
            }

            /// The alert's title.
            pub const fn title(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $(
                        (AlertKind::$variant, Lang::En) => $title_en,
                        (AlertKind::$variant, Lang::Ja) => $title_ja,
                    )+
                }
            }

            /// What to check and do when this alert is raised, for an OT engineer.
            pub const fn remediation(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $(
                        (AlertKind::$variant, Lang::En) => $rem_en,
                        (AlertKind::$variant, Lang::Ja) => $rem_ja,
                    )+
                }
            }
        }
    };
}

alert_kinds! {
    // ---- operational ----
    PlcStop {
        id: "plc_stop",
        engine: Operational,
        severity: Critical,
        title: "PLC stop command sent",
        title_ja: "PLC 停止コマンドの送信",
        remediation: "Confirm with the operations or maintenance team that stopping this \
            controller was planned (a maintenance window or work permit), and check that the \
            process it controls is in a safe state. If nobody planned it, treat the source host \
            as possibly compromised: isolate it from the control network, restart the \
            controller only under the plant's procedure, and escalate to incident response.",
        remediation_ja: "この PLC の停止が計画されたもの (保守作業や作業許可に基づくもの) か\
            を運転・保全担当者に確認し、制御対象のプロセスが安全な状態にあることを確かめてください。\
            計画外であれば、送信元ホストが侵害された可能性があるものとして制御ネットワークから切り離し、\
            プラントの手順に従って PLC を再起動したうえで、インシデント対応にエスカレーションしてください。",
    },
    PlcStart {
        id: "plc_start",
        engine: Operational,
        severity: Major,
        title: "PLC start command sent",
        title_ja: "PLC 起動コマンドの送信",
        remediation: "Check with the operators that starting this controller was expected at \
            this time and that the equipment it drives was ready to run. If it was not planned, \
            find out who was using the source host, bring the process to a safe state, and \
            report it to the person responsible for the control system.",
        remediation_ja: "この時間帯に PLC を起動する予定があったか、また PLC が動かす設備が\
            運転できる状態だったかをオペレーターに確認してください。計画外であれば、送信元ホストを\
            誰が使用していたかを確認し、プロセスを安全な状態にしたうえで、制御システムの責任者に\
            報告してください。",
    },
    PlcRestart {
        id: "plc_restart",
        engine: Operational,
        severity: Major,
        title: "PLC restart command sent",
        title_ja: "PLC 再起動コマンドの送信",
        remediation: "Ask the maintenance team whether a restart of this controller was \
            planned, and check that it came back in the expected mode with its program \
            unchanged. An unplanned restart, especially a repeated one, can mean tampering or a \
            failing device: check the source host and the controller's diagnostic buffer, and \
            escalate if neither explains it.",
        remediation_ja: "PLC の再起動が計画されていたかを保全担当者に確認し、再起動後に想定\
            どおりのモードで動作し、プログラムが変わっていないことを確かめてください。計画外の\
            再起動、特に繰り返し発生する場合は、不正操作や機器故障の可能性があります。送信元ホスト\
            と PLC の診断バッファを確認し、原因が分からなければエスカレーションしてください。",
    },
    ProgramDownload {
        id: "program_download",
        engine: Operational,
        severity: Critical,
        title: "Program download to a PLC",
        title_ja: "PLC へのプログラムのダウンロード",
        remediation: "Confirm that the download was an approved change: who made it, from \
            which engineering workstation and under which change request. Compare the program \
            now in the controller with the approved version (most engineering tools can \
            compare the online and offline projects). If the change was not approved, do not \
            let the process run on unverified logic, isolate the source host and escalate to \
            incident response.",
        remediation_ja: "このダウンロードが承認された変更か (誰が、どのエンジニアリング\
            ワークステーションから、どの変更申請に基づいて行ったか) を確認してください。PLC 内の\
            プログラムを承認済みのバージョンと比較してください (多くのエンジニアリングツールで\
            オンラインとオフラインのプロジェクトを比較できます)。未承認の変更であれば、検証されて\
            いないロジックで運転を続けないようにし、送信元ホストを切り離してインシデント対応に\
            エスカレーションしてください。",
    },
    ProgramUpload {
        id: "program_upload",
        engine: Operational,
        severity: Major,
        title: "Program upload from a PLC",
        title_ja: "PLC からのプログラムのアップロード",
        remediation: "An upload copies the controller's program to another host; it is normal \
            for backups and troubleshooting. Ask who made it and why, and check that the source \
            host is an authorised engineering workstation. If nobody did, the program may have \
            been taken for reconnaissance: isolate the host and inform the security team.",
        remediation_ja: "アップロードは PLC のプログラムを別のホストへ読み出す操作で、\
            バックアップやトラブル調査では通常の作業です。誰が何の目的で行ったかを確認し、送信元\
            ホストが許可されたエンジニアリングワークステーションであることを確かめてください。\
            心当たりがない場合は、攻撃の下調べのためにプログラムが持ち出された可能性があります。\
            ホストを切り離し、セキュリティ担当者に連絡してください。",
    },
    FirmwareUpdate {
        id: "firmware_update",
        engine: Operational,
        severity: Critical,
        title: "Firmware update sent to a device",
        title_ja: "デバイスへのファームウェア更新",
        remediation: "Confirm that a firmware update of this device was planned and that the \
            image came from the vendor through an approved channel. Afterwards, check that the \
            device's firmware version matches the vendor's release and that the device behaves \
            as expected. If it was not planned, take the device out of service if the process \
            allows, keep the capture, and contact the vendor and incident response.",
        remediation_ja: "このデバイスのファームウェア更新が計画されたもので、ファームウェアが\
            ベンダーから正規の経路で入手されたものかを確認してください。更新後は、ファームウェア\
            バージョンがベンダーの公開版と一致し、デバイスが想定どおりに動作していることを確かめて\
            ください。計画外であれば、プロセスが許す範囲でデバイスを停止し、パケットキャプチャを\
            保存して、ベンダーとインシデント対応の担当者に連絡してください。",
    },
    ConfigChange {
        id: "config_change",
        engine: Operational,
        severity: Major,
        title: "Device configuration changed",
        title_ja: "デバイス設定の変更",
        remediation: "Check with the maintenance team that this configuration change was \
            planned, and compare the device's configuration with the last approved backup. If \
            nobody made the change, restore the approved configuration and find out who used \
            the source host.",
        remediation_ja: "この設定変更が計画されたものかを保全担当者に確認し、デバイスの設定を\
            最新の承認済みバックアップと比較してください。誰も変更していない場合は、承認済みの\
            設定に戻し、送信元ホストを誰が使用していたかを調べてください。",
    },
    ModeChange {
        id: "mode_change",
        engine: Operational,
        severity: Major,
        title: "PLC operating mode changed",
        title_ja: "PLC 動作モードの変更",
        remediation: "Ask the operators whether the device was meant to change its operating \
            mode (for example to a test mode, or to a listen-only mode in which it stops \
            communicating), and check the mode on the device itself. A device left in such a \
            mode no longer does its normal work: if this was not planned, set it back to its \
            normal mode and find out who used the source host.",
        remediation_ja: "デバイスの動作モードの変更 (例: テストモードや、通信を停止する\
            リスンオンリーモードへの切替え) が予定されていたかをオペレーターに確認し、機器上で\
            モードを確認してください。このようなモードのままでは、機器は通常の動作を行いません。\
            計画外であれば通常のモードに戻し、送信元ホストを誰が使用していたかを確認して\
            ください。",
    },
    // ---- policy (baseline) ----
    NewAsset {
        id: "new_asset",
        engine: Policy,
        severity: Major,
        title: "New device detected",
        title_ja: "新しいデバイスを検知",
        remediation: "Identify the device from its MAC vendor, address and location, and ask \
            the plant or IT team whether it was installed on purpose. A laptop or unknown \
            device on the control network should be disconnected until it is approved. If it \
            belongs there, learn it so that it no longer alerts.",
        remediation_ja: "MAC アドレスのベンダー、IP アドレス、設置場所からデバイスを特定し、\
            意図して設置されたものかをプラントまたは IT の担当者に確認してください。制御ネット\
            ワーク上の不明なデバイスやノート PC は、承認されるまで切り離してください。正規の\
            デバイスであれば「学習」を選択し、以後アラートが出ないようにしてください。",
    },
    NewConnection {
        id: "new_connection",
        engine: Policy,
        severity: Minor,
        title: "New communication between devices",
        title_ja: "デバイス間の新しい通信を検知",
        remediation: "Check whether these two devices are supposed to communicate, for \
            example after a new HMI screen, a new historian tag or a network change. If the \
            connection is expected, learn it; if not, find the program on the source host that \
            opened it and block the connection at the firewall.",
        remediation_ja: "この 2 台のデバイスが通信する必要があるか (HMI 画面やヒストリアンの\
            タグの追加、ネットワーク変更の後など) を確認してください。想定どおりの通信であれば\
            「学習」を選択してください。想定外であれば、送信元ホストで通信を開始したプログラムを\
            特定し、ファイアウォールで通信を遮断してください。",
    },
    NewProtocol {
        id: "new_protocol",
        engine: Policy,
        severity: Minor,
        title: "New protocol in use",
        title_ja: "新しい通信プロトコルを検知",
        remediation: "Find out which software on the source host uses this protocol and \
            whether it was recently installed or enabled. Remote-access and file-sharing \
            protocols on a control network deserve particular attention. If it is not needed, \
            disable it on the host and block it at the firewall; otherwise learn it.",
        remediation_ja: "送信元ホストのどのソフトウェアがこの通信プロトコルを使用しているか、\
            最近インストールや有効化がされていないかを確認してください。制御ネットワーク上の\
            リモートアクセスやファイル共有のプロトコルには特に注意が必要です。不要であれば\
            ホストで無効にしてファイアウォールで遮断し、必要であれば「学習」を選択してください。",
    },
    UnauthorizedWrite {
        id: "unauthorized_write",
        engine: Policy,
        severity: Major,
        title: "Unauthorized PLC write",
        title_ja: "未承認の PLC 書込み",
        remediation: "Check which values were written (the function and address range in the \
            alert) and whether the source host is an HMI, SCADA server or engineering \
            workstation that should write to this controller. Confirm with the operators that \
            the process values are correct. If the write was not expected, block the source \
            host and escalate to incident response.",
        remediation_ja: "書き込まれた値 (アラートに示されたファンクションとアドレス範囲) と、\
            送信元ホストがこの PLC に書込みを行うべき HMI、SCADA サーバー、エンジニアリング\
            ワークステーションであるかを確認してください。プロセス値が正しいことをオペレーターに\
            確認してください。想定外の書込みであれば、送信元ホストを遮断してインシデント対応に\
            エスカレーションしてください。",
    },
    UnauthorizedFunction {
        id: "unauthorized_function",
        engine: Policy,
        severity: Major,
        title: "Unauthorized function code used",
        title_ja: "未承認のファンクションコードの使用",
        remediation: "Look up what the function in the alert does on this device and ask the \
            control-system engineer whether the source host needs it, for example after a \
            software update of the HMI or SCADA. If it is not needed, find the program that \
            sent it and stop it; if it is, learn it.",
        remediation_ja: "アラートに示されたファンクションがこのデバイスで何を行うものかを調べ、\
            送信元ホストにその機能が必要か (HMI や SCADA のソフトウェア更新後など) を制御\
            システムのエンジニアに確認してください。不要であれば送信したプログラムを特定して停止し、\
            必要であれば「学習」を選択してください。",
    },
    NewMaster {
        id: "new_master",
        engine: Policy,
        severity: Major,
        title: "New master controlling a device",
        title_ja: "デバイスを制御する新しいマスターを検知",
        remediation: "A host that has not controlled this device before now sends it \
            commands. Check whether it is a replaced or redundant HMI or SCADA server, or a \
            laptop connected for maintenance. If nobody knows the host, disconnect it and check \
            what it wrote to the device.",
        remediation_ja: "これまでこのデバイスを制御していなかったホストがコマンドを送信して\
            います。交換または冗長化された HMI や SCADA サーバーか、保守用に接続されたノート PC \
            かを確認してください。誰も把握していないホストであれば切り離し、デバイスに何を書き\
            込んだかを確認してください。",
    },
    FirmwareChanged {
        id: "firmware_changed",
        engine: Policy,
        severity: Major,
        title: "Firmware version changed",
        title_ja: "ファームウェアの変更を検知",
        remediation: "Compare the new firmware version with the vendor's releases and the \
            plant's change records. An expected upgrade can be learned; an unexplained change, \
            or a downgrade to a version with known vulnerabilities, should be reported to the \
            owner of the control system and investigated with the vendor.",
        remediation_ja: "新しいファームウェアバージョンをベンダーの公開版とプラントの変更記録と\
            照合してください。予定されたアップグレードであれば「学習」を選択できます。説明の\
            つかない変更や、既知の脆弱性があるバージョンへのダウングレードは、制御システムの\
            責任者に報告し、ベンダーと協力して調査してください。",
    },
    UnauthorizedInternetConnectivity {
        id: "unauthorized_internet_connectivity",
        engine: Policy,
        severity: Critical,
        title: "Unauthorized internet connectivity",
        title_ja: "未承認のインターネット接続",
        remediation: "Find out why this host reaches the internet: remote-access tools, vendor \
            cloud services and software updates are common causes. Control-network devices \
            should reach the internet only through an approved, monitored path: block the \
            traffic at the firewall and ask the owner of the host to justify it.",
        remediation_ja: "このホストがインターネットと通信している理由を確認してください。\
            リモートアクセスツール、ベンダーのクラウドサービス、ソフトウェア更新がよくある原因\
            です。制御ネットワークのデバイスは、承認され監視された経路以外でインターネットに接続\
            すべきではありません。ファイアウォールで通信を遮断し、ホストの管理者に必要性を確認\
            してください。",
    },
    // ---- protocol violation ----
    MalformedPdu {
        id: "malformed_pdu",
        engine: ProtocolViolation,
        severity: Major,
        title: "Malformed protocol message",
        title_ja: "プロトコル仕様に違反したメッセージ",
        remediation: "A message that breaks its protocol's rules can come from faulty or \
            outdated software, a network problem, or a fuzzing or exploit attempt. Check \
            whether the source device was recently updated or reports errors. If the source is \
            not a known device, or the messages keep coming, isolate it and keep the evidence \
            packets for analysis.",
        remediation_ja: "通信プロトコルの仕様に違反したメッセージは、不具合のあるソフトウェアや\
            古いソフトウェア、ネットワークの問題、あるいはファジングや攻撃の試みが原因となり得ます。\
            送信元デバイスが最近更新されていないか、エラーを出していないかを確認してください。\
            送信元が既知のデバイスでない場合や、同様のメッセージが続く場合は切り離し、証拠パケット\
            を解析用に保存してください。",
    },
    IllegalFunction {
        id: "illegal_function",
        engine: ProtocolViolation,
        severity: Minor,
        title: "Illegal function code",
        title_ja: "不正なファンクションコード",
        remediation: "The device received a function code its protocol does not define. \
            Check whether the source host runs new or misconfigured software, such as a driver \
            or OPC server set up for the wrong protocol variant. If the source is unknown, \
            treat it as reconnaissance and find out who operates the host.",
        remediation_ja: "デバイスが、通信プロトコルで定義されていないファンクションコードを受信\
            しました。送信元ホストで新しいソフトウェアや設定に誤りのあるソフトウェア (誤った\
            プロトコル種別に設定されたドライバーや OPC サーバーなど) が動作していないかを確認して\
            ください。送信元が不明な場合は偵察行為とみなし、ホストの管理者を特定してください。",
    },
    ExceptionBurst {
        id: "exception_burst",
        engine: ProtocolViolation,
        severity: Minor,
        title: "Burst of exception responses",
        title_ja: "例外応答の多発",
        remediation: "The device answered many requests with errors in a short time. Compare \
            the requests with the device's configuration: a changed address map, a removed \
            module or a wrong unit id are common causes. If the requests come from an unknown \
            host, someone may be probing the device: find that host and stop it.",
        remediation_ja: "デバイスが短時間に多数の要求に対してエラー (例外応答) を返しました。\
            要求内容をデバイスの設定と比較してください。アドレスマップの変更、取り外された\
            モジュール、誤ったユニット ID がよくある原因です。不明なホストからの要求であれば、\
            デバイスを探索している可能性があるため、そのホストを特定して停止してください。",
    },
    // ---- anomaly ----
    ArpScan {
        id: "arp_scan",
        engine: Anomaly,
        severity: Minor,
        title: "ARP scan detected",
        title_ja: "ARP スキャンを検知",
        remediation: "A host asked for many addresses in a short time, which is how network \
            discovery starts. Check whether it is an approved asset-management or security \
            scanner, or an engineering tool searching for devices. If not, find the owner of \
            the host, disconnect it if it is unknown, and look for other suspicious activity \
            from it.",
        remediation_ja: "あるホストが短時間に多数のアドレスを問い合わせました。これはネット\
            ワーク探索の典型的な始まりです。承認された資産管理ツールやセキュリティスキャナー、\
            デバイスを検索するエンジニアリングツールかどうかを確認してください。そうでなければ\
            ホストの管理者を特定し、不明なホストであれば切り離して、ほかに不審な通信がないかを\
            確認してください。",
    },
    PortScan {
        id: "port_scan",
        engine: Anomaly,
        severity: Minor,
        title: "Port scan detected",
        title_ja: "ポートスキャンを検知",
        remediation: "A host tried many ports on one or more devices. Check whether a \
            vulnerability scan or maintenance was scheduled. Unplanned scans on a control \
            network can crash fragile devices and often precede an attack: identify the host, \
            stop the scan and check that the scanned devices still work.",
        remediation_ja: "あるホストが 1 台以上のデバイスの多数のポートに接続を試みました。\
            脆弱性スキャンや保守作業が予定されていたかを確認してください。制御ネットワークでの\
            計画外のスキャンは、耐性の低いデバイスの停止を招くことがあり、攻撃の前兆であることも\
            多いため、ホストを特定してスキャンを止め、スキャンされたデバイスが正常に動作している\
            ことを確認してください。",
    },
    PlcScan {
        id: "plc_scan",
        engine: Anomaly,
        severity: Minor,
        title: "PLC scan detected",
        title_ja: "PLC スキャンを検知",
        remediation: "A host asked many controllers for their identity (model, firmware), as \
            both engineering tools and attackers do. Check whether someone ran a device search \
            from an engineering workstation or an asset-inventory tool. If nobody did, identify \
            and isolate the host: learning models and firmware versions is the first step in \
            targeting controllers.",
        remediation_ja: "あるホストが多数の PLC に識別情報 (モデル、ファームウェア) を\
            問い合わせました。エンジニアリングツールも攻撃者も同じ操作を行います。エンジニア\
            リングワークステーションや資産管理ツールでデバイス検索を行った人がいるかを確認して\
            ください。心当たりがなければホストを特定して切り離してください。モデルとファーム\
            ウェアバージョンの把握は、PLC を狙う攻撃の第一歩です。",
    },
    ArpSpoofing {
        id: "arp_spoofing",
        engine: Anomaly,
        severity: Major,
        title: "ARP spoofing suspected",
        title_ja: "ARP スプーフィングの疑い",
        remediation: "A host claims an IP address already held by another device, as in a \
            man-in-the-middle attack. Check both MAC addresses against the device inventory \
            and the switches' MAC tables to find the impostor's port. Disconnect the device \
            that should not have the address and check which traffic passed through it.",
        remediation_ja: "あるホストが、ほかのデバイスが使用している IP アドレスを自分のものと\
            して応答しており、中間者攻撃の可能性があります。両方の MAC アドレスをデバイス一覧や\
            スイッチの MAC アドレステーブルと照合し、なりすましているデバイスの接続ポートを特定\
            してください。本来そのアドレスを持たないデバイスを切り離し、そのデバイスを経由した\
            通信を確認してください。",
    },
    IpConflict {
        id: "ip_conflict",
        engine: Anomaly,
        severity: Minor,
        title: "IP address conflict",
        title_ja: "IP アドレスの競合",
        remediation: "Two devices use the same IP address, which disrupts communication with \
            both. Check recent device replacements and static address assignments, and give \
            one of them a free address. If one of the MAC addresses is unknown, treat it as a \
            possible impostor.",
        remediation_ja: "2 台のデバイスが同じ IP アドレスを使用しており、両方の通信に支障が\
            出ます。最近のデバイス交換や固定 IP アドレスの割り当てを確認し、一方に空いている\
            アドレスを設定してください。どちらかの MAC アドレスに心当たりがない場合は、なりすまし\
            の可能性を疑ってください。",
    },
    MacChange {
        id: "mac_change",
        engine: Anomaly,
        severity: Warning,
        title: "MAC address changed for an IP address",
        title_ja: "IP アドレスに対応する MAC アドレスの変更",
        remediation: "The device at this IP address now has a different MAC address. That is \
            expected after replacing the device or its network card: check the maintenance \
            records and the vendor of the new MAC address. If no device was replaced, someone \
            may be impersonating it: find the switch port of the new MAC address.",
        remediation_ja: "この IP アドレスのデバイスの MAC アドレスが変わりました。デバイスや\
            ネットワークカードを交換した場合は想定どおりです。保守記録と新しい MAC アドレスの\
            ベンダーを確認してください。交換していない場合はなりすましの可能性があるため、新しい \
            MAC アドレスが接続されているスイッチのポートを特定してください。",
    },
    AssetSilent {
        id: "asset_silent",
        engine: Anomaly,
        severity: Major,
        title: "Device stopped communicating",
        title_ja: "デバイスの通信途絶",
        remediation: "A device that was polled regularly, or the host polling it, stopped \
            communicating. Check the device's power, cabling and status on the HMI, and whether \
            it was taken out of service on purpose. If it should be running, restore \
            communication promptly: the operators may be blind to part of the process.",
        remediation_ja: "定期的にポーリングされていたデバイス、またはポーリング元のホストが\
            通信を停止しました。デバイスの電源、配線、HMI 上の状態と、意図的に停止されたもの\
            かを確認してください。稼働しているはずのデバイスであれば、プロセスの一部を監視できて\
            いない可能性があるため、速やかに通信を復旧してください。",
    },
    PollingDeviation {
        id: "polling_deviation",
        engine: Anomaly,
        severity: Warning,
        title: "Polling cycle deviation",
        title_ja: "ポーリング周期の逸脱",
        remediation: "The cycle at which a master polls this device moved away from its \
            learned period. Check for a configuration change in the HMI or SCADA, an overloaded \
            device or network, or another host sending requests. If nothing explains it, \
            compare the requests with the baseline to see what changed.",
        remediation_ja: "マスターがこのデバイスをポーリングする周期が、学習した周期から外れ\
            ました。HMI や SCADA の設定変更、デバイスやネットワークの過負荷、要求を送る別の\
            ホストの有無を確認してください。原因が見つからない場合は、要求内容をベースラインと\
            比較して何が変わったかを確認してください。",
    },
    TrafficSpike {
        id: "traffic_spike",
        engine: Anomaly,
        severity: Warning,
        title: "Traffic spike",
        title_ja: "通信量の急増",
        remediation: "Traffic between these devices rose far above its learned level. Check \
            for a backup, file transfer or software update in progress, or a misbehaving \
            device. If none explains it, find the host generating the traffic: a flood can \
            starve controllers of the bandwidth they need.",
        remediation_ja: "これらのデバイス間の通信量が、学習した水準を大きく上回りました。\
            バックアップ、ファイル転送、ソフトウェア更新が実行中でないか、デバイスが異常な動作を\
            していないかを確認してください。いずれにも当てはまらない場合は、通信を発生させている\
            ホストを特定してください。大量の通信は PLC の通信を妨げるおそれがあります。",
    },
    // ---- threat intelligence ----
    IntelMatch {
        id: "intel_match",
        engine: ThreatIntelligence,
        severity: Major,
        title: "Threat intelligence match",
        title_ja: "脅威インテリジェンスに一致する通信",
        remediation: "An address, domain or file hash seen on the network matches a known-bad \
            indicator in the imported threat intelligence. Check the indicator's source and \
            the host involved; if the match is confirmed, isolate the host and have it examined \
            for malware. Report it to the security team, who can also confirm whether the \
            indicator is still current.",
        remediation_ja: "ネットワーク上で確認されたアドレス、ドメイン、ファイルハッシュが、取り\
            込んだ脅威インテリジェンスの既知の悪性指標と一致しました。指標の出典と該当ホストを確認\
            し、一致が確かであればホストを切り離してマルウェアの調査を行ってください。セキュリティ\
            担当者に報告し、指標が現在も有効かを確認してもらってください。",
    },
}

impl AlertKind {
    /// The operational kind an operation of this class raises, if any.
    pub const fn for_operation(class: OperationClass) -> Option<AlertKind> {
        match class {
            OperationClass::Stop => Some(AlertKind::PlcStop),
            OperationClass::Start => Some(AlertKind::PlcStart),
            OperationClass::Restart => Some(AlertKind::PlcRestart),
            OperationClass::ProgramDownload => Some(AlertKind::ProgramDownload),
            OperationClass::ProgramUpload => Some(AlertKind::ProgramUpload),
            OperationClass::FirmwareUpdate => Some(AlertKind::FirmwareUpdate),
            OperationClass::ConfigChange => Some(AlertKind::ConfigChange),
            OperationClass::ModeChange => Some(AlertKind::ModeChange),
            // Setting a clock is routine (time synchronisation), not an operational change.
            OperationClass::ClockSync
            | OperationClass::Read
            | OperationClass::Write
            | OperationClass::ControlCommand
            | OperationClass::Identify
            | OperationClass::Diagnostic
            | OperationClass::FileTransfer
            | OperationClass::Auth
            | OperationClass::Other => None,
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for AlertKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for AlertKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        AlertKind::from_id(&id)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown alert kind `{id}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds issue 5 §3 lists, spelt as the issue spells them: the catalogue's spec.
    const ISSUE_5_IDS: [&str; 29] = [
        // operational
        "plc_stop",
        "plc_start",
        "plc_restart",
        "program_download",
        "program_upload",
        "firmware_update",
        "config_change",
        "mode_change",
        // policy
        "new_asset",
        "new_connection",
        "new_protocol",
        "unauthorized_write",
        "unauthorized_function",
        "new_master",
        "firmware_changed",
        "unauthorized_internet_connectivity",
        // protocol violation
        "malformed_pdu",
        "illegal_function",
        "exception_burst",
        // anomaly
        "arp_scan",
        "port_scan",
        "plc_scan",
        "arp_spoofing",
        "ip_conflict",
        "mac_change",
        "asset_silent",
        "polling_deviation",
        "traffic_spike",
        // threat intelligence
        "intel_match",
    ];

    #[test]
    fn catalogue_is_exactly_the_issue_list() {
        let mut ours: Vec<&str> = AlertKind::ALL.iter().map(|k| k.id()).collect();
        let mut spec = ISSUE_5_IDS.to_vec();
        ours.sort_unstable();
        spec.sort_unstable();
        assert_eq!(ours, spec);
    }

    #[test]
    fn engines_follow_the_issue_sections() {
        let engine_of = |i: usize| match i {
            0..8 => Engine::Operational,
            8..16 => Engine::Policy,
            16..19 => Engine::ProtocolViolation,
            19..28 => Engine::Anomaly,
            _ => Engine::ThreatIntelligence,
        };
        for (i, id) in ISSUE_5_IDS.iter().enumerate() {
            let kind = AlertKind::from_id(id).unwrap();
            assert_eq!(kind.engine(), engine_of(i), "{id}");
        }
    }

    fn is_snake_case(s: &str) -> bool {
        s.starts_with(|c: char| c.is_ascii_lowercase())
            && !s.ends_with('_')
            && !s.contains("__")
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    }

    #[test]
    fn ids_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &kind in AlertKind::ALL {
            let id = kind.id();
            assert!(is_snake_case(id), "{id}");
            assert!(seen.insert(id), "duplicate id {id}");
            assert_eq!(AlertKind::from_id(id), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{id}\""));
            assert_eq!(serde_json::from_str::<AlertKind>(&json).unwrap(), kind);
        }
        assert_eq!(AlertKind::from_id("PLC_STOP"), None);
        assert_eq!(AlertKind::from_id(""), None);
        assert!(serde_json::from_str::<AlertKind>("\"plc_halt\"").is_err());
    }

    fn has_japanese(s: &str) -> bool {
        s.chars().any(|c| {
            matches!(c,
                '\u{3040}'..='\u{309f}' // hiragana
                | '\u{30a0}'..='\u{30ff}' // katakana
                | '\u{4e00}'..='\u{9fff}') // CJK unified ideographs
        })
    }

    #[test]
    fn every_kind_has_texts_in_both_languages() {
        for &kind in AlertKind::ALL {
            for lang in [Lang::En, Lang::Ja] {
                assert!(!kind.title(lang).trim().is_empty(), "{kind} title {lang:?}");
                assert!(!kind.remediation(lang).trim().is_empty(), "{kind} advice");
            }
            assert!(kind.title(Lang::En).is_ascii(), "{kind}");
            assert!(kind.remediation(Lang::En).is_ascii(), "{kind}");
            assert!(has_japanese(kind.title(Lang::Ja)), "{kind}");
            assert!(has_japanese(kind.remediation(Lang::Ja)), "{kind}");
            // Advice is two or three sentences, not a word.
            let en_sentences = kind.remediation(Lang::En).matches(". ").count() + 1;
            assert!((2..=4).contains(&en_sentences), "{kind}: {en_sentences}");
            assert!(
                kind.remediation(Lang::Ja).matches('。').count() >= 2,
                "{kind}"
            );
            // Line continuations must not leave runs of spaces.
            assert!(!kind.remediation(Lang::En).contains("  "), "{kind}");
            assert!(!kind.remediation(Lang::Ja).contains("  "), "{kind}");
        }
    }

    #[test]
    fn japanese_spaces_latin_words_as_the_glossary_does() {
        // "PLC 停止", "IP アドレス": a half-width space between Latin letters and Japanese.
        for &kind in AlertKind::ALL {
            for text in [kind.title(Lang::Ja), kind.remediation(Lang::Ja)] {
                let chars: Vec<char> = text.chars().collect();
                for w in chars.windows(2) {
                    let glued = (w[0].is_ascii_alphanumeric() && has_japanese(&w[1].to_string()))
                        || (has_japanese(&w[0].to_string()) && w[1].is_ascii_alphanumeric());
                    assert!(!glued, "{kind}: `{}{}` in {text}", w[0], w[1]);
                }
            }
        }
    }

    #[test]
    fn japanese_uses_the_glossary_spelling() {
        for &kind in AlertKind::ALL {
            for text in [kind.title(Lang::Ja), kind.remediation(Lang::Ja)] {
                assert!(!text.contains("書き込み"), "{kind}: use 書込み");
            }
        }
    }

    #[test]
    fn severities_and_engines_have_ids_and_labels() {
        assert_eq!(Severity::Critical.label(Lang::Ja), "緊急");
        assert_eq!(Severity::Major.label(Lang::Ja), "重要");
        assert_eq!(Severity::Minor.label(Lang::Ja), "警告");
        assert_eq!(Severity::Warning.label(Lang::Ja), "注意");
        assert!(Severity::Critical > Severity::Major && Severity::Minor > Severity::Warning);
        for s in Severity::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.id()));
            assert_eq!(serde_json::from_str::<Severity>(&json).unwrap(), s);
        }
        for e in Engine::ALL {
            assert!(is_snake_case(e.id()));
            assert!(has_japanese(e.label(Lang::Ja)));
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.id()));
        }
    }

    #[test]
    fn the_anchor_severities_hold() {
        use AlertKind::*;
        for k in [PlcStop, ProgramDownload, FirmwareUpdate] {
            assert!(k.severity() >= Severity::Major, "{k}");
        }
        for k in [ArpScan, PortScan, PlcScan] {
            assert_eq!(k.severity(), Severity::Minor, "{k}");
        }
    }

    #[test]
    fn operations_map_to_operational_kinds() {
        use OperationClass as C;
        let expected = [
            (C::Stop, "plc_stop"),
            (C::Start, "plc_start"),
            (C::Restart, "plc_restart"),
            (C::ProgramDownload, "program_download"),
            (C::ProgramUpload, "program_upload"),
            (C::FirmwareUpdate, "firmware_update"),
            (C::ConfigChange, "config_change"),
            (C::ModeChange, "mode_change"),
        ];
        for class in OperationClass::ALL {
            let want = expected
                .iter()
                .find(|(c, _)| *c == class)
                .map(|(_, id)| *id);
            let got = AlertKind::for_operation(class);
            assert_eq!(got.map(AlertKind::id), want, "{}", class.name());
            if let Some(kind) = got {
                assert_eq!(kind.engine(), Engine::Operational);
            }
        }
    }
}
