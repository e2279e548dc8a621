// The scripted broker behind the FIX acceptor: one USD account, a quote per symbol, an
// order book of client orders matched against that quote, positions and a cash balance.
//
// Every public method takes the broker's lock. Nothing here talks to a socket: outgoing FIX
// messages go into the Outbox, which a sender thread drains into the QuickFIX sessions (so no
// QuickFIX lock is ever taken while the broker lock is held).
#ifndef TRADELOOP_FIX_ACCEPTOR_BROKER_H
#define TRADELOOP_FIX_ACCEPTOR_BROKER_H

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "quickfix/Message.h"
#include "quickfix/SessionID.h"

// A message waiting to be handed to a QuickFIX session.
struct Outgoing
{
  FIX::Message message;
  FIX::SessionID session;
};

// FIFO of outgoing messages with a "drained" barrier for the control channel.
class Outbox
{
public:
  void push( const FIX::Message& message, const FIX::SessionID& session );
  // Blocks for the next message; false once closed and empty.
  bool pop( Outgoing& out );
  // Marks the message returned by the last pop() as handed to the engine.
  void markSent();
  // Waits until everything pushed before the call has been handed to the engine.
  bool waitDrained( int timeoutMs );
  void close();

private:
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::deque<Outgoing> m_queue;
  uint64_t m_pushed = 0;
  uint64_t m_sent = 0;
  bool m_closed = false;
};

// A control-channel or request error: the text goes back to the caller.
struct CommandError : public std::runtime_error
{
  explicit CommandError( const std::string& what ) : std::runtime_error( what ) {}
};

struct BrokerSettings
{
  double startingCash = 1000000.0;
  double defaultLot = 1.0;
  double defaultTick = 0.01;
  std::string account = "ACC1";
  std::string currency = "USD";
};

struct Quote
{
  bool set = false;
  double bid = 0, ask = 0, bidSize = 0, askSize = 0;
};

struct Instrument
{
  double tick = 0.01;
  double lot = 1.0;
  Quote quote;
};

struct Position
{
  double net = 0;   // > 0 long, < 0 short
  double avgPx = 0;
};

struct Order
{
  std::string orderId, clOrdId, origClOrdId, symbol, account, expireTimeText, text;
  char side = '1', ordType = '1', tif = '0', status = '0';
  double qty = 0, price = 0, stopPx = 0, cum = 0, avgPx = 0;
  bool triggered = false;     // stop orders: the stop price was reached
  FIX::SessionID session;     // where this order's reports go
  // scripted behaviour (control command "next")
  bool muted = false;         // "silent": drop reports while the order is being accepted
  bool duplicateReports = false;
  bool hasPendingAck = false; // "out_of_order": the New ack waits for the first fill
  FIX::Message pendingAck;
  double liquidityCap = -1;   // "partial": at most this much fills on the first match
  bool manualOnly = false;    // after a capped match only "fill" completes the order
};

// What "next" asks of the next NewOrderSingle.
struct NextModes
{
  bool rejectFatal = false, silent = false, duplicate = false, outOfOrder = false;
  double partialQty = -1;
};

class Broker
{
public:
  Broker( Outbox& outbox, const BrokerSettings& settings );

  // FIX requests (engine threads)
  void onNewOrderSingle( const FIX::Message&, const FIX::SessionID& );
  void onCancelRequest( const FIX::Message&, const FIX::SessionID& );
  void onReplaceRequest( const FIX::Message&, const FIX::SessionID& );
  void onStatusRequest( const FIX::Message&, const FIX::SessionID& );
  void onMarketDataRequest( const FIX::Message&, const FIX::SessionID& );
  void onPositionsRequest( const FIX::Message&, const FIX::SessionID& );
  void onCollateralInquiry( const FIX::Message&, const FIX::SessionID& );
  void onSecurityListRequest( const FIX::Message&, const FIX::SessionID& );
  void onLogout( const FIX::SessionID& );

  // Control commands (control thread); they throw CommandError on bad input.
  void setPrice( const std::string& symbol, double bid, double ask, double bidSize, double askSize );
  void defineInstrument( const std::string& symbol, double tick, double lot );
  void fill( const std::string& clOrdId, double qty, double px, bool pxGiven );
  void addNextMode( const std::string& mode, double qty );
  int count( const std::string& clOrdId );
  std::string listOpenOrders();
  std::string listPositions();
  std::string balance();
  void setCash( double cash );
  void reset();
  // Expires GTD orders whose ExpireTime has passed (housekeeping, main thread).
  void expireOrders( double nowEpochSeconds );

private:
  typedef std::shared_ptr<Order> OrderPtr;
  struct Subscription
  {
    FIX::SessionID session;
    std::string reqId;
    std::set<std::string> symbols;
    bool bid = true, ask = true;
  };

  // order life cycle (broker.cpp)
  void rejectNew( Order& order, int reason, const std::string& text );
  void evaluate( Order& order );
  void execute( Order& order, double qty, double px );
  void cancelUnsolicited( Order& order, const std::string& text );
  void applyToAccount( const std::string& symbol, char side, double qty, double px );
  double referencePrice( const Order& order ) const;
  double reservedCash( const Order* except ) const;
  std::string validate( const Order& order, int& reason ) const;
  OrderPtr find( const std::string& clOrdId ) const;
  // outgoing messages (broker_messages.cpp)
  FIX::Message executionReport( const Order& order, char execType );
  void emit( Order& order, const FIX::Message& report, bool isFill );
  void sendCancelReject( const FIX::SessionID&, const std::string& clOrdId,
                         const std::string& origClOrdId, const Order* order, char responseTo,
                         int reason, const std::string& text );
  void publishQuote( const std::string& symbol, bool firstQuote );
  std::string nextExecId();
  std::string nextId( const char* prefix );

  std::mutex m_mutex;
  Outbox& m_outbox;
  BrokerSettings m_settings;
  double m_cash;
  std::string m_idPrefix;
  uint64_t m_idCounter = 0;
  std::map<std::string, Instrument> m_instruments;
  std::map<std::string, Position> m_positions;
  std::vector<OrderPtr> m_orders;                    // arrival order
  std::map<std::string, OrderPtr> m_byClOrdId;       // every ClOrdID an order was known by
  std::map<std::string, int> m_newOrderCount;        // NewOrderSingle messages per ClOrdID
  std::vector<Subscription> m_subscriptions;
  NextModes m_next;
};

// Small shared helpers (broker_messages.cpp).
std::string formatNumber( double value );
std::string utcNowText();
double epochNow();
bool parseUtcTimestamp( const std::string& text, double& epochSeconds );

#endif
